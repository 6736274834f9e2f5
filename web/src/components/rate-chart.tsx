/** Documents per second over time (uPlot): one series per migration, points as they arrive. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { SeriesPoint } from '../api.js';

const HEIGHT = 180;

/**
 * Time axis steps, in seconds. The labels are wall-clock seconds (13:42:43), so a tick never
 * comes less than a second after the one before: uPlot's own sub-second steps, chosen in the
 * first seconds of a chart, labelled several ticks alike (13:42:43, 13:42:43, ...).
 */
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400];
/** room for one label (HH:MM:SS), in CSS pixels */
const TIME_LABEL_SPACE = 72;

function toData(points: readonly SeriesPoint[]): uPlot.AlignedData {
  return [points.map((p) => p[0]), points.map((p) => p[1])];
}

export function RateChart(props: { points: readonly SeriesPoint[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current;
    if (el === null) return;
    const u = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: HEIGHT,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true },
          y: { range: (_u, _min, max) => [0, Math.max(10, max * 1.15)] },
        },
        axes: [
          {
            stroke: '#64748b',
            grid: { stroke: '#e2e8f0' },
            incrs: TIME_STEPS,
            space: TIME_LABEL_SPACE,
            values: (_u, splits) => {
              const labels = splits.map((t) =>
                new Date(t * 1000).toLocaleTimeString([], { hour12: false }),
              );
              el.dataset.xLabels = labels.join('|'); // what was drawn, for the browser test
              return labels;
            },
          },
          { stroke: '#64748b', grid: { stroke: '#e2e8f0' }, size: 60 },
        ],
        series: [
          {},
          {
            label: 'docs/s',
            stroke: '#2563eb',
            width: 2,
            fill: 'rgba(37, 99, 235, 0.12)',
            points: { show: false },
          },
        ],
      },
      toData(props.points),
      el,
    );
    plot.current = u;
    const resize = new ResizeObserver(() =>
      u.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }),
    );
    resize.observe(el);
    return () => {
      resize.disconnect();
      u.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(toData(props.points));
  }, [props.points]);

  return <div class="chart" ref={box} data-testid="rate-chart" />;
}
