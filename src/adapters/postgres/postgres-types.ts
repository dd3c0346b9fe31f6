import { types } from 'pg';
import type { CustomTypesConfig } from 'pg';

/**
 * Names of the built-in types, as `pg_catalog.format_type(oid, NULL)` spells them (so they read
 * like the schema introspection's column types). Built-in OIDs are fixed across servers and
 * versions; other types are looked up on the target once per pool.
 */
export const BUILTIN_TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [16, 'boolean'],
  [17, 'bytea'],
  [18, '"char"'],
  [19, 'name'],
  [20, 'bigint'],
  [21, 'smallint'],
  [23, 'integer'],
  [24, 'regproc'],
  [25, 'text'],
  [26, 'oid'],
  [114, 'json'],
  [142, 'xml'],
  [199, 'json[]'],
  [600, 'point'],
  [650, 'cidr'],
  [700, 'real'],
  [701, 'double precision'],
  [705, 'unknown'],
  [790, 'money'],
  [829, 'macaddr'],
  [869, 'inet'],
  [1000, 'boolean[]'],
  [1001, 'bytea[]'],
  [1005, 'smallint[]'],
  [1007, 'integer[]'],
  [1009, 'text[]'],
  [1015, 'character varying[]'],
  [1016, 'bigint[]'],
  [1021, 'real[]'],
  [1022, 'double precision[]'],
  [1042, 'character'],
  [1043, 'character varying'],
  [1082, 'date'],
  [1083, 'time without time zone'],
  [1114, 'timestamp without time zone'],
  [1115, 'timestamp without time zone[]'],
  [1182, 'date[]'],
  [1184, 'timestamp with time zone'],
  [1185, 'timestamp with time zone[]'],
  [1186, 'interval'],
  [1231, 'numeric[]'],
  [1266, 'time with time zone'],
  [1560, 'bit'],
  [1562, 'bit varying'],
  [1700, 'numeric'],
  [2205, 'regclass'],
  [2206, 'regtype'],
  [2249, 'record'],
  [2278, 'void'],
  [2950, 'uuid'],
  [2951, 'uuid[]'],
  [3614, 'tsvector'],
  [3615, 'tsquery'],
  [3734, 'regconfig'],
  [3802, 'jsonb'],
  [3807, 'jsonb[]'],
  [3904, 'int4range'],
  [3906, 'numrange'],
  [3908, 'tsrange'],
  [3910, 'tstzrange'],
  [3912, 'daterange'],
  [3926, 'int8range'],
  [4089, 'regnamespace'],
  [4096, 'regrole'],
]);

/**
 * Values kept as PostgreSQL's text: dates and times (read under `DateStyle = ISO` and
 * `TimeZone = UTC`, exact to the microsecond, where a JavaScript Date would round to the
 * millisecond and a timestamp without time zone would be shifted into this process's zone), and
 * bytea (`\x…` hex, where a Buffer would serialise as an array of numbers).
 */
const TEXT_TYPES = new Set([
  17, // bytea
  1001, // bytea[]
  1082, // date
  1182, // date[]
  1083, // time
  1183, // time[]
  1114, // timestamp
  1115, // timestamp[]
  1184, // timestamptz
  1185, // timestamptz[]
  1186, // interval
  1187, // interval[]
  1266, // timetz
  1270, // timetz[]
]);

const FLOAT_TYPES = new Set([700, 701]);

type TextParser = (value: string) => unknown;

const asText = (value: string): string => value;
/** JSON has no NaN or Infinity: those stay text rather than turning into null. */
const asFloat = (value: string): number | string => {
  const number = Number(value);
  return Number.isFinite(number) ? number : value;
};

/**
 * How result values are converted, on top of node-postgres's defaults (booleans, 2- and 4-byte
 * integers and floats as numbers; bigint and numeric as strings, which keeps their precision;
 * json and jsonb parsed; arrays as arrays).
 */
export const RESULT_TYPES: CustomTypesConfig = {
  // Results are always requested in text format.
  getTypeParser: ((oid: number): TextParser => {
    if (TEXT_TYPES.has(oid)) return asText;
    if (FLOAT_TYPES.has(oid)) return asFloat;
    return types.getTypeParser(oid, 'text') as TextParser;
  }) as CustomTypesConfig['getTypeParser'],
};
