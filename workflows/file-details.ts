/**
 * A file's current details as the Temporal UI shows them on its workflow's page (Markdown): the stage, the
 * chunks, the rows, the output and the failure. Built from the `progress` query's state alone, so the page
 * and the query never disagree.
 */
import { fixOf } from '../contract/failures';
import type { Progress } from '../contract/workflow';

const count = (n: number) => n.toLocaleString('en-US');

export function fileDetails(p: Progress): string {
  const lines = [`**Stage:** ${p.stage}`];
  const what = [
    p.job && `**Job:** ${p.job}`,
    p.route && `**Route:** ${p.route}`,
    p.backend && `**Backend:** ${p.backend}`,
  ].filter(Boolean);
  if (what.length > 0) lines.push(what.join(' · '));
  if (p.rerouted) lines.push(`**Rerouted:** ${p.rerouted}`);
  if (p.chunks) {
    const { total, done, reused, failed } = p.chunks;
    lines.push(
      `**Chunks:** ${count(done + reused)} of ${count(total)} done` +
        (reused > 0 ? ` (${count(reused)} reused)` : '') +
        (failed > 0 ? `, ${count(failed)} failed` : ''),
    );
  }
  if (p.rows) {
    lines.push(
      `**Rows:** ${count(p.rows.in)} in · ${count(p.rows.out)} out · ${count(p.rows.rejected)} rejected`,
    );
  }
  if (p.output) lines.push(`**Output:** \`${p.output}\``);
  if (p.failure) {
    lines.push(`**Failure (${p.failure.type}):** ${p.failure.message}`);
    const fix = fixOf(p.failure.type);
    if (fix) lines.push(`**Fix:** ${fix}`);
  }
  // Two spaces end a Markdown line without starting a paragraph.
  return lines.join('  \n');
}
