/**
 * Cron expressions as the product reads them (Cloudflare's Cron Triggers dialect, parsed by its
 * saffron): exactly five fields, UTC, weekdays 1-7 with 1 = Sunday (or SUN-SAT), `L`, `W` and `#`,
 * day of month and day of week matched either-or. The arithmetic is croner's, set to that dialect;
 * the checks in front refuse what the product refuses and croner would take (`?`, `@hourly`,
 * seconds), and the product's forms croner cannot evaluate (`L-3`, a weekday of `L` alone).
 */
import { Cron } from "croner";
import { WorkflowValidationError } from "../errors.js";
import { MAX_CRON_LENGTH } from "../limits.js";

const CRON_OPTIONS = {
	mode: "5-part",
	alternativeWeekdays: true,
	sloppyRanges: true,
	timezone: "UTC",
	paused: true,
} as const;

/** `event.schedule` of an instance a tick created: the product's `WorkflowCronSchedule`. */
export interface WorkflowCronSchedule {
	/** The schedule's cron expression. */
	cron: string;
	/** The tick's time, ms since the epoch. */
	scheduledTime: number;
}

/** Characters the product's parser knows: digits, names, `* , - / # L W`. */
const CRON_CHARACTERS = /^[0-9A-Za-z*,\-/#]+$/;

/** A cron expression, checked; its ticks are computed by `next` and `latest`. */
export class CronExpression {
	readonly expression: string;
	readonly #cron: Cron;

	private constructor(expression: string, cron: Cron) {
		this.expression = expression;
		this.#cron = cron;
	}

	/**
	 * Checks `expression`.
	 * @throws WorkflowValidationError naming the rule it breaks.
	 */
	static parse(expression: string): CronExpression {
		const what = `cron expression ${JSON.stringify(expression)}`;
		if (expression.length > MAX_CRON_LENGTH)
			throw new WorkflowValidationError(
				`${what} is ${expression.length} characters; a schedule's cron expression may have at most ${MAX_CRON_LENGTH}, so that its instance ids ("<cron>-<time>") stay within 100 characters`,
			);
		if (expression.trim() !== expression)
			throw new WorkflowValidationError(`${what} must not start or end with whitespace`);
		const fields = expression.split(/\s+/);
		if (fields.length !== 5 || fields[0] === "")
			throw new WorkflowValidationError(
				`${what} must have exactly 5 fields (minute hour day-of-month month day-of-week, UTC), as Cloudflare's cron triggers; it has ${fields[0] === "" ? 0 : fields.length}`,
			);
		const bad = fields.find((field) => !CRON_CHARACTERS.test(field));
		if (bad !== undefined)
			throw new WorkflowValidationError(
				`${what}: field ${JSON.stringify(bad)} may only hold digits, month and weekday names and * , - / # L W`,
			);
		const [, , dayOfMonth, , dayOfWeek] = fields as [string, string, string, string, string];
		if (/^L-/i.test(dayOfMonth))
			throw new WorkflowValidationError(
				`${what}: day-of-month offsets from the last day (L-n, L-nW) are not supported by do-workflows (docs/differences.md)`,
			);
		if (/^L$/i.test(dayOfWeek))
			throw new WorkflowValidationError(
				`${what}: a day-of-week of L alone is not supported by do-workflows; write 7 or SAT (docs/differences.md)`,
			);
		if (/(^|[,-])0($|[,\-/#L])/i.test(dayOfWeek))
			throw new WorkflowValidationError(
				`${what}: days of the week are 1-7 with 1 = Sunday (or SUN-SAT), as Cloudflare's cron triggers; 0 is not one`,
			);
		let cron: Cron;
		try {
			cron = new Cron(expression, CRON_OPTIONS);
		} catch (error) {
			const reason = String((error as Error)?.message ?? error).replace(/^CronPattern: /, "");
			if (reason.startsWith("From value is larger than to value"))
				throw new WorkflowValidationError(
					`${what}: a range that wraps around (such as FRI-SUN) is not supported by do-workflows; write it as two (FRI-SAT,SUN) (docs/differences.md)`,
				);
			throw new WorkflowValidationError(`${what} is not valid: ${reason}`);
		}
		if (cron.nextRun(new Date(0)) === null)
			throw new WorkflowValidationError(`${what} never matches a date`);
		return new CronExpression(expression, cron);
	}

	/** The first tick strictly after `after` (ms), or null if there is none. */
	next(after: number): number | null {
		return this.#cron.nextRun(new Date(after))?.getTime() ?? null;
	}

	/** The latest tick at or before `atOrBefore` (ms), or null if there is none. */
	latest(atOrBefore: number): number | null {
		const [previous] = this.#cron.previousRuns(1, new Date(atOrBefore + 1));
		return previous?.getTime() ?? null;
	}
}

/** The id of the instance a tick creates, as the product makes it: `${cron}-${scheduledTime}`. */
export function scheduledInstanceId(cron: string, scheduledTime: number): string {
	return `${cron}-${scheduledTime}`;
}

/** True if `id` has the shape of a scheduled instance's id (a cron expression, "-", a time). */
export function isScheduledInstanceId(id: string): boolean {
	const match = /^(.+)-(\d{1,16})$/.exec(id);
	if (!match || !/\s/.test(match[1] as string)) return false;
	try {
		CronExpression.parse(match[1] as string);
		return true;
	} catch {
		return false;
	}
}
