/**
 * A file's current details as the Temporal UI shows them on its workflow's page (Markdown): the stage, the
 * chunks, the rows, the output and the failure. Built from the `progress` query's state alone, so the page
 * and the query never disagree.
 */
import { fixOf } from '../contract/failures';
import { formatCount } from '../contract/reports';
import type { Progress } from '../contract/workflow';

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
      `**Chunks:** ${formatCount(done + reused)} of ${formatCount(total)} done` +
        (reused > 0 ? ` (${formatCount(reused)} reused)` : '') +
        (failed > 0 ? `, ${formatCount(failed)} failed` : ''),
    );
  }
  if (p.rows) {
    lines.push(
      `**Rows:** ${formatCount(p.rows.in)} in · ${formatCount(p.rows.out)} out · ${formatCount(p.rows.rejected)} rejected`,
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
