/** A number Gson would print as a Java double: always with a fractional part (`960.0`). */
export class JavaDouble {
  constructor(readonly value: number) {}
}

/**
 * JSON as skaha's Gson prints it (spec §1.3): 2-space indent, `"key": value`, declaration
 * order, no HTML escaping, doubles with a fractional part. Ends without a newline.
 */
export function gson(value: unknown, indent = ''): string {
  if (value instanceof JavaDouble) {
    return Number.isInteger(value.value) ? `${value.value}.0` : String(value.value);
  }
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    const inner = indent + '  ';
    return `[\n${value.map((v) => inner + gson(v, inner)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${gson(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
