/** Kubernetes `Status` objects and the error type the handlers throw. */

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Status {
    const s: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) s.details = this.details;
    return s;
  }
}

/** A resource reference used in messages: `configmaps` or `deployments.apps`. */
export interface ResourceRef {
  group: string;
  resource: string;
}

function qualified(r: ResourceRef): string {
  return r.group ? `${r.resource}.${r.group}` : r.resource;
}

function details(r: ResourceRef, name: string, extra?: Partial<StatusDetails>): StatusDetails {
  const d: StatusDetails = { name, kind: r.resource, ...extra };
  if (r.group) d.group = r.group;
  return d;
}

export function notFound(r: ResourceRef, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualified(r)} "${name}" not found`, details(r, name));
}

export function alreadyExists(r: ResourceRef, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, details(r, name));
}

export function conflict(r: ResourceRef, name: string, why?: string): ApiError {
  const msg = why ?? 'the object has been modified; please apply your changes to the latest version and try again';
  return new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${msg}`, details(r, name));
}

export interface FieldError {
  field: string;
  type: 'Invalid' | 'Required' | 'Forbidden' | 'Duplicate' | 'NotSupported' | 'TooLong';
  /** Already formatted value (Go-like), e.g. `"abc"` or `30080`. */
  value?: string;
  detail?: string;
}

const FIELD_REASON: Record<FieldError['type'], string> = {
  Invalid: 'FieldValueInvalid',
  Required: 'FieldValueRequired',
  Forbidden: 'FieldValueForbidden',
  Duplicate: 'FieldValueDuplicate',
  NotSupported: 'FieldValueNotSupported',
  TooLong: 'FieldValueTooLong',
};

function fieldMessage(e: FieldError): string {
  switch (e.type) {
    case 'Required':
      return `${e.field}: Required value${e.detail ? `: ${e.detail}` : ''}`;
    case 'Forbidden':
      return `${e.field}: Forbidden${e.detail ? `: ${e.detail}` : ''}`;
    default:
      return `${e.field}: ${e.type === 'Invalid' ? 'Invalid value' : e.type === 'Duplicate' ? 'Duplicate value' : e.type === 'TooLong' ? 'Too long' : 'Unsupported value'}${e.value !== undefined ? `: ${e.value}` : ''}${e.detail ? `: ${e.detail}` : ''}`;
  }
}

/** 422 Invalid with one or more field errors, formatted like the real API server. */
export function invalid(kind: string, name: string, errors: FieldError[], group = ''): ApiError {
  const msgs = errors.map(fieldMessage);
  const body = msgs.length === 1 ? msgs[0] : `[${msgs.join(', ')}]`;
  const d: StatusDetails = {
    name,
    kind,
    causes: errors.map((e) => ({ reason: FIELD_REASON[e.type], message: fieldMessage(e).slice(e.field.length + 2), field: e.field })),
  };
  if (group) d.group = group;
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${body}`, d);
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function methodNotAllowed(message = 'the server does not allow this method on the requested resource'): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function pageNotFound(): ApiError {
  return new ApiError(404, 'NotFound', 'the server could not find the requested resource');
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json; got ${contentType}`);
}

export function serviceUnavailable(message: string): ApiError {
  return new ApiError(503, 'ServiceUnavailable', message);
}

export function internalError(message: string): ApiError {
  return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
}

export function successStatus(details?: StatusDetails): Record<string, unknown> {
  const s: Record<string, unknown> = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' };
  if (details) s.details = details;
  return s;
}
