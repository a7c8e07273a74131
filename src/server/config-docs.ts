import { ConfigSchema } from './config.js';

interface SchemaNode {
  type?: string;
  default?: unknown;
  description?: string;
  properties?: Record<string, SchemaNode>;
  minimum?: number;
  maximum?: number;
  anyOf?: Array<{ const?: unknown }>;
}

/** docs/config.md, generated from the config schema (a test fails when the file drifts). */
export function renderConfigDocs(): string {
  const rows: string[] = [];
  const walk = (node: SchemaNode, prefix: string) => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const name = prefix ? `${prefix}.${key}` : key;
      if (child.type === 'object' && child.properties) {
        walk(child, name);
        continue;
      }
      const range = child.minimum !== undefined ? ` (≥ ${child.minimum}${child.maximum !== undefined ? `, ≤ ${child.maximum}` : ''})` : '';
      const def =
        name === 'podman.containersConf'
          ? '`deploy/podman/containers.conf` of this package'
          : child.default === undefined
            ? 'unset'
            : `\`${JSON.stringify(child.default)}\``;
      // A union of literals (e.g. `podman | kubernetes`) reads best as its words.
      const type = child.anyOf ? child.anyOf.map((a) => `\`${String(a.const)}\``).join(' \\| ') : child.type;
      rows.push(`| \`${name}\` | ${type}${range} | ${def} | ${(child.description ?? '').replace(/\|/g, '\\|')} |`);
    }
  };
  walk(ConfigSchema as unknown as SchemaNode, '');
  return `# Configuration

\`skaha serve\` reads one JSON file (\`--config FILE\` or \`SKAHA_CONFIG\`); every field is optional.
Precedence: defaults < file < environment (\`SKAHA_PORT\`, \`SKAHA_DATA_DIR\`, \`SKAHA_PUBLIC_URL\`)
< flags (\`--port\`, \`--data-dir\`). Nested fields are written as JSON objects, e.g.
\`{"sessions": {"maxUserSessions": 3}, "registryHosts": ["images.canfar.net"]}\`.

This file is generated from \`src/server/config.ts\` by \`npm run docs\`; a test fails when it drifts.

| field | type | default | meaning |
|---|---|---|---|
${rows.join('\n')}
`;
}
