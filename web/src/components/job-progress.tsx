/** What a verify's or rollback's workers published: a bar, done/total, rate, ETA. */
import type { VerifyView } from '../api.js';
import { duration, int } from '../format.js';
import { Bar, Stat } from './ui.js';

export function JobProgressStats(props: {
  p: NonNullable<VerifyView['progress']>;
  label: string;
  /** what done/total and the rate count (default docs) */
  unit?: string;
}) {
  const { p } = props;
  return (
    <>
      <Bar
        value={p.done}
        max={p.total}
        done={p.total > 0 && p.done >= p.total}
        label={props.label}
      />
      <div class="stats">
        <Stat
          label={props.unit !== undefined ? `${props.unit} done` : 'done'}
          value={`${int(p.done)} / ${int(p.total)}`}
        />
        {p.sides !== undefined && (
          <>
            <Stat
              label="documents"
              value={`${int(p.sides.documents.done)} / ${int(p.sides.documents.total)}`}
            />
            <Stat
              label="journal entries"
              value={`${int(p.sides.journal.done)} / ${int(p.sides.journal.total)}`}
            />
          </>
        )}
        <Stat label="rate" value={`${int(p.rate)} ${props.unit ?? 'docs'}/s`} />
        <Stat label="ETA" value={p.paused === true ? 'paused' : duration(p.etaSeconds)} />
        <Stat label="workers" value={int(p.workers)} />
      </div>
    </>
  );
}
