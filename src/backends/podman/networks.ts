/** IPv4 dotted quad → 32-bit unsigned integer, or undefined when it is not one. */
export function ipv4ToInt(address: string): number | undefined {
  const parts = address.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^\d{1,3}$/.test(part) || Number(part) > 255) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

/** Whether an IPv4 address lies in a CIDR subnet (`10.89.1.0/24`). */
export function inSubnet(address: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const a = ipv4ToInt(address);
  const b = ipv4ToInt(base ?? '');
  const bits = Number(bitsText);
  if (a === undefined || b === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) return false;
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return (a & mask) >>> 0 === (b & mask) >>> 0;
}

/** The IPv4 subnet and gateway of an engine network, from its inspect answer. */
export function ipv4Of(info: { IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> } }): { subnet: string; gateway: string } | undefined {
  const config = info.IPAM?.Config?.find((c) => c.Subnet && c.Gateway && !c.Gateway.includes(':'));
  return config ? { subnet: config.Subnet!, gateway: config.Gateway! } : undefined;
}
