/**
 * A transactions CSV shaped like the benchmark peers' generator (../shared/bench/peers/gen_transactions.py),
 * written in-process so tests do not depend on that folder: about 1% of the rows quoted (commas, doubled
 * quotes, embedded newlines, UTF-8) and about 0.4% invalid (bad date, amount or currency, a missing field).
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';

export const TRANSACTIONS_HEADER =
  'transaction_id,account_id,transaction_date,amount,currency,merchant,category';

/** Deterministic PRNG (mulberry32): the same seed gives the same file, and a failing random test case replays. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Writes at least `bytes` bytes of transactions to `path`; returns the number of data rows. */
export async function writeTransactions(path: string, bytes: number, seed = 1): Promise<number> {
  const rnd = seeded(seed);
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const currencies = ['USD', 'EUR', 'GBP', 'JPY', 'CHF', 'CAD'];
  const categories = ['grocery', 'travel', 'fuel', 'dining', 'utilities', 'health'];
  const out = createWriteStream(path);
  let written = 0;
  let rows = 0;
  let batch: string[] = [`${TRANSACTIONS_HEADER}\n`];
  while (written < bytes) {
    let merchant = `Merchant ${int(1, 50000)}`;
    const r = rnd();
    if (r < 0.004) merchant = `"Shop, ${int(1, 999)} ""Quoted"" Ltd"`;
    else if (r < 0.008) merchant = `"Two-line\nmerchant ${int(1, 999)}"`;
    else if (r < 0.01) merchant = `"Café Müller, ${int(1, 99)}"`;
    let date = `2025-${String(int(1, 12)).padStart(2, '0')}-${String(int(1, 28)).padStart(2, '0')}`;
    let amount = (rnd() * 5500 - 500).toFixed(2);
    let currency = currencies[int(0, 5)]!;
    let category = categories[int(0, 5)];
    const bad = rnd();
    if (bad < 0.001) date = '2025-13-45';
    else if (bad < 0.002) amount = 'twelve';
    else if (bad < 0.003) currency = 'XXX1';
    else if (bad < 0.004) category = undefined;
    const fields = [`tx${String(rows).padStart(10, '0')}`, `acct${String(int(1, 999999)).padStart(7, '0')}`];
    fields.push(date, amount, currency, merchant);
    if (category !== undefined) fields.push(category);
    const line = `${fields.join(',')}\n`;
    batch.push(line);
    written += Buffer.byteLength(line);
    rows++;
    if (batch.length >= 10_000) {
      if (!out.write(batch.join(''))) await once(out, 'drain');
      batch = [];
    }
  }
  out.end(batch.join(''));
  await finished(out);
  return rows;
}
