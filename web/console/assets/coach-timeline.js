// The coach's class clock: the workout's timeline with the current interval highlighted,
// the time since the class started, the current interval's countdown and the next one's
// label, and the Start / Skip / +30s controls (`live.interval.control`).
//
// The server owns the clock: intervals advance there, and every change arrives as a
// `live.interval` frame with its `ends_at`. The page only redraws every 250 ms against that
// `ends_at`, so a reconnect, a late frame or a second coach tab never drifts from it.

import { $, busy, fill, h, showError } from "./fitpulse.js";

/** How often the clock and the countdown are redrawn. */
const TICK_MS = 250;
/** What +30s adds to the current interval. */
const EXTEND_SECONDS = 30;

/** `m:ss`, or `h:mm:ss` from an hour on; negative durations show as zero. */
export function clock(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = String(total % 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${seconds}` : `${minutes}:${seconds}`;
}

/** Whole seconds left until `endsAt`, rounded up so "0:00" shows only once it is over. */
export function secondsLeft(endsAt, now) {
  return Math.max(0, Math.ceil((Date.parse(endsAt) - now) / 1000));
}

export class TimelinePanel {
  /** `send(action, seconds?)` sends `live.interval.control` for the selected class. */
  constructor(send) {
    this.send = send;
    this.reset(null);
    const controls = [
      ["#interval-start", () => this.send("start")],
      ["#interval-skip", () => this.send("skip")],
      ["#interval-extend", () => this.send("extend", EXTEND_SECONDS)],
    ];
    for (const [id, action] of controls) {
      $(id).addEventListener("click", () => busy($(id), null, () => this.control(action)).then(() => this.renderControls()));
    }
    setInterval(() => this.tick(), TICK_MS);
  }

  /** A newly selected class (or none): forgets the previous class's clock. */
  reset(cls) {
    this.classId = cls ? cls.id : null;
    this.hasWorkout = Boolean(cls && cls.workout_id);
    this.state = cls ? cls.state : null;
    this.startedAt = cls ? cls.started_at : null;
    this.timeline = [];
    this.interval = null;
    this.over = false;
    this.error(null);
    this.render();
  }

  /** The class as the REST list shows it now (state, start time). */
  update(cls) {
    this.hasWorkout = Boolean(cls.workout_id);
    this.state = cls.state;
    this.startedAt = cls.started_at || this.startedAt;
    if (cls.state === "ended" || cls.state === "cancelled") this.over = true;
    this.renderControls();
    this.tick();
  }

  /** The snapshot after `live.join`: the timeline and where the clock is. */
  snapshot(data) {
    this.startedAt = data.class.started_at || this.startedAt;
    this.state = data.class.state;
    this.timeline = Array.isArray(data.timeline) ? data.timeline.map((i) => ({ ...i })) : [];
    this.interval = data.interval || null;
    this.render();
  }

  /** `live.interval`: the clock moved (started, ran out, skipped or extended). */
  moved(data) {
    this.interval = data;
    // The event carries the interval's length with extensions; the list shows that too.
    if (this.timeline[data.index]) this.timeline[data.index].seconds = data.seconds;
    this.over = false;
    this.error(null);
    this.render();
  }

  started(data) {
    this.startedAt = data.started_at || this.startedAt;
    this.state = "live";
    this.renderControls();
  }

  ended() {
    this.state = "ended";
    this.over = true;
    this.renderControls();
  }

  async control(action) {
    this.error(null);
    try {
      await action();
    } catch (err) {
      this.error(err);
    }
  }

  /** Shows a refused control; the code stays on the node for whoever reads the page. */
  error(err) {
    const node = $("#timeline-error");
    showError(node, err);
    if (err && err.code) node.dataset.code = err.code;
    else delete node.dataset.code;
  }

  render() {
    const current = this.interval;
    $("#timeline-card").dataset.hasWorkout = String(this.hasWorkout || this.timeline.length > 0);
    fill(
      $("#timeline"),
      this.timeline.length
        ? this.timeline.map((item, index) =>
            h(
              "li",
              {
                "data-index": index,
                class: current && current.index === index ? "current" : current && index < current.index ? "done" : null,
                "aria-current": current && current.index === index ? "step" : null,
              },
              h("span", { class: "grow label" }, item.label),
              h("span", { class: "muted seconds" }, clock(item.seconds * 1000)),
            ),
          )
        : h("li", { class: "muted" }, this.hasWorkout ? "The timeline shows once the class is joined." : "No workout: this class has no timeline."),
    );
    const label = $("#interval-label");
    label.textContent = current ? current.label : "–";
    label.dataset.index = current ? String(current.index) : "";
    $("#interval-position").textContent = current ? `${current.index + 1} of ${current.of}` : "";
    $("#next-interval").textContent = current ? (current.next ? `${current.next.label} · ${clock(current.next.seconds * 1000)}` : "last interval") : "–";
    const countdown = $("#countdown");
    if (current) Object.assign(countdown.dataset, { startedAt: current.started_at, endsAt: current.ends_at });
    else for (const key of ["startedAt", "endsAt"]) delete countdown.dataset[key];
    this.renderControls();
    this.tick();
  }

  renderControls() {
    const live = this.state === "live" && !this.over;
    const running = live && this.interval !== null;
    // Enabled whenever the class has a workout: the server is the judge of what it allows,
    // and its refusal is shown as it comes.
    $("#interval-start").disabled = !(live && this.hasWorkout);
    $("#interval-skip").disabled = !(running && this.hasWorkout);
    $("#interval-extend").disabled = !(running && this.hasWorkout);
  }

  /** Redraws the class clock and the countdown from the server's times. */
  tick() {
    const now = Date.now();
    const since = this.startedAt ? now - Date.parse(this.startedAt) : null;
    $("#class-clock").textContent = since === null ? "–" : clock(since);
    const countdown = $("#countdown");
    if (!this.interval) {
      countdown.textContent = "–";
      return;
    }
    countdown.textContent = clock(secondsLeft(this.interval.ends_at, now) * 1000);
  }
}

