import { csvCell, csvEventRow, csvHeader, csvRow } from './audit-csv';
import type { AuditEventView } from './audit-event';

describe('CSV export cells', () => {
  it.each([
    ['=1+2', "'=1+2"],
    ['+SUM(A1)', "'+SUM(A1)"],
    ['-2+3', "'-2+3"],
    ['@cmd', "'@cmd"],
    ['\tx', "'\tx"],
    ['＝HYPERLINK()', "'＝HYPERLINK()"],
  ])('prefixes a formula-looking cell %j with a single quote', (input, expected) => {
    expect(csvCell(input)).toBe(expected);
  });

  it('quotes cells with commas, quotes or line breaks, doubling the quotes', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('two\nlines')).toBe('"two\nlines"');
    expect(csvCell('\rcr')).toBe('"\'\rcr"');
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe('"\'=HYPERLINK(""http://x"",""y"")"');
  });

  it('writes nulls as empty cells, numbers as they are and objects as JSON', () => {
    expect(csvCell(null)).toBe('');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(201)).toBe('201');
    expect(csvCell({ a: '=x', b: 1 })).toBe('"{""a"":""=x"",""b"":1}"');
    expect(csvRow(['a', null, 3])).toBe('a,,3\r\n');
  });

  it('writes one record per event in header order', () => {
    const event: AuditEventView = {
      id: 1,
      occurredAt: '2025-01-01T00:00:00.000Z',
      requestId: null,
      actorType: 'anonymous',
      actorId: null,
      actorLabel: '=evil()',
      action: 'auth.login_failed',
      resourceType: null,
      resourceId: null,
      outcome: 'failure',
      httpStatus: 401,
      ip: '127.0.0.1',
      userAgent: 'curl/8',
      details: { reason: 'bad_credentials' },
      chainSeq: null,
      sealedAt: null,
      prevHash: null,
      hash: null,
    };
    expect(csvHeader()).toBe(
      'id,occurredAt,requestId,actorType,actorId,actorLabel,action,resourceType,resourceId,outcome,' +
        'httpStatus,ip,userAgent,details,chainSeq,sealedAt,prevHash,hash\r\n',
    );
    expect(csvEventRow(event)).toBe(
      "1,2025-01-01T00:00:00.000Z,,anonymous,,'=evil(),auth.login_failed,,,failure,401,127.0.0.1,curl/8," +
        '"{""reason"":""bad_credentials""}",,,,\r\n',
    );
  });
});
