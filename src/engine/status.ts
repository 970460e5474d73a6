/**
 * The instance state machine. Codes are persisted, so each has an explicit value that never
 * changes; {@link publicStatus} is the one place that maps them to the product's strings.
 */
import { InvalidStateError } from "../errors.js";

export const Status = {
	Queued: 0,
	Running: 1,
	Paused: 2,
	Errored: 3,
	Terminated: 4,
	Complete: 5,
	Waiting: 6,
	WaitingForPause: 7,
	/** The run failed (or was terminated with `rollback: true`): rollback handlers are running. */
	RollingBack: 8,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

export type PublicStatus = InstanceStatus["status"];

/** The product's name of each status: the one list of the status strings. */
const PUBLIC = {
	[Status.Queued]: "queued",
	[Status.Running]: "running",
	[Status.Paused]: "paused",
	[Status.Errored]: "errored",
	[Status.Terminated]: "terminated",
	[Status.Complete]: "complete",
	[Status.Waiting]: "waiting",
	[Status.WaitingForPause]: "waitingForPause",
	[Status.RollingBack]: "rollingBack",
} as const satisfies Record<Status, PublicStatus>;

/** Every status an instance can be in, by its public name (in the order of their codes). */
export const PUBLIC_STATUSES = Object.values(PUBLIC);

export function publicStatus(status: Status): PublicStatus {
	return PUBLIC[status];
}

const FINAL_PUBLIC: ReadonlySet<PublicStatus> = new Set(
	Object.values(Status).filter(isFinal).map(publicStatus),
);

/** {@link isFinal} for a status by its public name. */
export function isFinalStatus(status: PublicStatus): boolean {
	return FINAL_PUBLIC.has(status);
}

/** Statuses an instance never leaves by running; only restart (back to queued) or deletion. */
export function isFinal(status: Status): boolean {
	return status === Status.Complete || status === Status.Errored || status === Status.Terminated;
}

/**
 * Every transition the engine may make. `restart` takes any status back to `queued`; the rest
 * follow the run: queued → running ⇄ waiting → complete | errored, with pause and terminate
 * able to interrupt any live status. A run that fails with rollback handlers registered, or a
 * `terminate({ rollback: true })`, goes through rollingBack: → errored or terminated.
 */
const NEXT: Record<Status, readonly Status[]> = {
	[Status.Queued]: [
		Status.Running,
		Status.Paused,
		Status.Terminated,
		Status.Errored,
		Status.RollingBack,
	],
	[Status.Running]: [
		Status.RollingBack,
		Status.Waiting,
		Status.WaitingForPause,
		Status.Paused,
		Status.Complete,
		Status.Errored,
		Status.Terminated,
	],
	// A run may end while a sleep or event wait it did not await is still pending.
	[Status.Waiting]: [
		Status.RollingBack,
		Status.Running,
		Status.Paused,
		Status.Complete,
		Status.Errored,
		Status.Terminated,
	],
	[Status.WaitingForPause]: [
		Status.RollingBack,
		Status.Paused,
		Status.Running,
		Status.Complete,
		Status.Errored,
		Status.Terminated,
	],
	[Status.Paused]: [Status.Running, Status.Waiting, Status.Terminated, Status.RollingBack],
	// Once the handlers have run (or one failed for good): errored after a failure, terminated after
	// terminate({ rollback: true }); a plain terminate ends it at once.
	[Status.RollingBack]: [Status.Errored, Status.Terminated],
	[Status.Complete]: [],
	[Status.Errored]: [],
	[Status.Terminated]: [],
};

/** Throws if the state machine has no edge from `from` to `to` (restart aside). */
export function assertTransition(from: Status, to: Status): void {
	if (from === to || to === Status.Queued || NEXT[from].includes(to)) return;
	throw new InvalidStateError(
		`instance cannot go from "${publicStatus(from)}" to "${publicStatus(to)}"`,
	);
}
