import type { ReactNode } from 'react';
import { absoluteTime, relativeTime } from '../lib/format';

/** Header of a column of row actions: named for screen readers, blank on screen. */
export const ACTIONS = '';

/**
 * The portal's tables: a caption for screen readers, one header row, and rows that become cards
 * below a laptop's width (CSS; every cell names its column in data-label).
 */
export function DataTable({ caption, columns, className, children }: { caption: string; columns: string[]; className?: string; children: ReactNode }) {
  return (
    // A wide table scrolls sideways inside this box on a narrow screen; keyboard users scroll it
    // too once it has the focus, so it is a named, focusable region (WCAG 2.1.1).
    <div className="table-wrap" role="region" aria-label={caption} tabIndex={0}>
      <table className={className ? `table ${className}` : 'table'}>
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            {columns.map((c, i) => (
              <th scope="col" key={i}>
                {c === ACTIONS ? <span className="visually-hidden">Actions</span> : c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

/** A time as people read it ("3 h ago"), the exact time on hover. */
export function When({ iso }: { iso: string }) {
  return (
    <time dateTime={iso} title={absoluteTime(iso)}>
      {relativeTime(iso)}
    </time>
  );
}
