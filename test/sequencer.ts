/**
 * The order files start in (vitest.config.ts `sequence.sequencer`): vitest's own order (failed
 * first, then longest first), except that one run-alone file goes first and every other file
 * comes before the remaining run-alone ones. With two workers, one works through the run-alone
 * files one after another (test/support/run-alone.ts) while the other clears the in-process
 * files; without this, both would queue on the lock from the start.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { runsAlone } from './support/run-alone.js';

export default class RunAloneSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const alone: TestSpecification[] = [];
    const others: TestSpecification[] = [];
    for (const f of sorted) (runsAlone(f.moduleId) ? alone : others).push(f);
    return [...alone.slice(0, 1), ...others, ...alone.slice(1)];
  }
}
