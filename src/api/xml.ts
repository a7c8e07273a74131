/** Text or an attribute value, escaped for XML. */
export function xmlEscape(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** One `<capability>` of a VOSI capabilities document, an interface per security method (none: anonymous). */
export function capability(standardID: string, accessURL: string, securityMethods: readonly string[], version?: string): string {
  const interfaces = (securityMethods.length > 0 ? securityMethods : [undefined]).map((method) =>
    [
      `    <interface xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" xsi:type="vs:ParamHTTP" role="std"${version ? ` version="${version}"` : ''}>`,
      `      <accessURL use="base">${xmlEscape(accessURL)}</accessURL>`,
      ...(method ? [`      <securityMethod standardID="${method}"/>`] : []),
      '    </interface>',
    ].join('\n'),
  );
  return `  <capability standardID="${standardID}">\n${interfaces.join('\n')}\n  </capability>`;
}

/** A VOSI capabilities document of these capabilities. */
export function capabilitiesDocument(capabilities: string[]): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<vosi:capabilities xmlns:vosi="http://www.ivoa.net/xml/VOSICapabilities/v1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    ...capabilities,
    '</vosi:capabilities>',
    '',
  ].join('\n');
}

/** A VOSI availability document. */
export function availabilityDocument(available: boolean, note: string): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    '<vosi:availability xmlns:vosi="http://www.ivoa.net/xml/VOSIAvailability/v1.0">',
    `  <vosi:available>${available}</vosi:available>`,
    `  <vosi:note>${xmlEscape(note)}</vosi:note>`,
    '</vosi:availability>',
    '',
  ].join('\n');
}

/** Security methods of the platform's authenticated interfaces: browser login, client certificate, bearer token. */
export const SECURITY_METHODS = ['ivo://ivoa.net/sso#cookie', 'ivo://ivoa.net/sso#tls-with-certificate', 'ivo://ivoa.net/sso#token'] as const;
