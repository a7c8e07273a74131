import { describe, expect, it } from 'vitest';
import { parseStorageNode, storageUrl } from '../../../portal/src/api';
import { bytes } from '../../../portal/src/lib/format';

// A container document as the storage service writes it (src/api/vospace/documents.ts).
const CONTAINER = `<?xml version="1.0" encoding="UTF-8"?>
<vos:node xmlns:vos="http://www.ivoa.net/xml/VOSpace/v2.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" uri="vos://cadc.nrc.ca~arc/home/alice" xsi:type="vos:ContainerNode"><vos:properties><vos:property uri="ivo://ivoa.net/vospace/core#date" readOnly="true">2026-12-04T07:00:00.000</vos:property><vos:property uri="ivo://ivoa.net/vospace/core#length" readOnly="true">2048</vos:property><vos:property uri="ivo://ivoa.net/vospace/core#quota" readOnly="true">1073741824</vos:property><vos:property uri="ivo://ivoa.net/vospace/core#creator" readOnly="true">CN=alice</vos:property></vos:properties><vos:accepts/><vos:provides/><vos:nodes><vos:node uri="vos://cadc.nrc.ca~arc/home/alice/data" xsi:type="vos:ContainerNode"><vos:properties><vos:property uri="ivo://ivoa.net/vospace/core#date" readOnly="true">2026-12-04T06:00:00.000</vos:property><vos:property uri="ivo://ivoa.net/vospace/core#length" readOnly="true">0</vos:property></vos:properties><vos:accepts/><vos:provides/></vos:node><vos:node uri="vos://cadc.nrc.ca~arc/home/alice/a%20b.fits" xsi:type="vos:DataNode" busy="false"><vos:properties><vos:property uri="ivo://ivoa.net/vospace/core#date" readOnly="true">2026-12-04T05:00:00.000</vos:property><vos:property uri="ivo://ivoa.net/vospace/core#length" readOnly="true">1536</vos:property><vos:property uri="ivo://ivoa.net/vospace/core#groupread" readOnly="false">ivo://cadc.nrc.ca/gms?survey</vos:property></vos:properties><vos:accepts/><vos:provides/></vos:node></vos:nodes></vos:node>`;

describe('the storage page reads the storage service', () => {
  it('parses a container, its usage, quota and children', () => {
    const { node, children } = parseStorageNode(CONTAINER);
    expect(node).toEqual({
      path: '/home/alice',
      name: 'alice',
      type: 'container',
      size: 2048,
      modified: '2026-12-04T07:00:00.000Z',
      owner: 'alice',
      quota: 1073741824,
    });
    expect(children.map((c) => [c.name, c.type, c.size, c.group])).toEqual([
      ['data', 'container', 0, undefined],
      ['a%20b.fits', 'data', 1536, 'survey'],
    ]);
  });

  it('refuses an answer that is not a node, and encodes each name of a path in URLs', () => {
    expect(() => parseStorageNode('<html><body>proxy error</body></html>')).toThrow(/not a node/);
    expect(storageUrl('files', '/home/alice/a b#1.fits')).toBe('/arc/files/home/alice/a%20b%231.fits');
  });

  it('shows sizes as people read them', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(1536)).toBe('1.5 KiB');
    expect(bytes(3 * 1024 ** 3)).toBe('3.0 GiB');
  });
});
