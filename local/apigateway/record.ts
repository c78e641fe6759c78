/**
 * A dictionary keyed by names from outside (a client's headers and query parameters, a function's
 * response headers). It has no prototype, so a name such as `valueOf` or `__proto__` is only a name,
 * as it is to API Gateway.
 */
export const clientRecord = <T>(): Record<string, T> => Object.create(null) as Record<string, T>;
