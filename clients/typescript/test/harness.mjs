// Test harness: a real fitpulse server (target/debug/fitpulse, or FITPULSE_BIN) on a free
// loopback port with a fresh embedded store, and a TCP proxy in front of it whose
// connections a test can cut, as a network drop would.
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const BINARY = process.env.FITPULSE_BIN || join(root, "target/debug/fitpulse");

/** Waits for `check` to return a truthy value, polling; fails after `ms`. */
export async function until(check, ms = 15_000, what = "a condition") {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  const server = net.createServer();
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  await new Promise((r) => server.close(r));
  return port;
}

export class Server {
  constructor(env = {}) {
    this.dataDir = mkdtempSync(join(tmpdir(), "fitpulse-sdk-"));
    this.extraEnv = env;
    this.child = null;
  }

  get env() {
    return {
      ...process.env,
      FITPULSE__DATA_DIR: join(this.dataDir, "data"),
      FITPULSE__STORE__KIND: "embedded",
      FITPULSE__BUS__KIND: "local",
      FITPULSE__HTTP__WORKERS: "1",
      FITPULSE__LOG__LEVEL: process.env.FITPULSE_SDK_TEST_LOG || "warn",
      ...(this.port ? { FITPULSE__HTTP__BIND: `127.0.0.1:${this.port}` } : {}),
      ...this.extraEnv,
    };
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Runs the CLI against this server's store (`admin create-user` needs it stopped). */
  cli(...args) {
    return execFileSync(BINARY, args, { env: this.env, encoding: "utf8", timeout: 60_000 }).trim();
  }

  async start() {
    this.port ??= await freePort();
    const child = spawn(BINARY, ["serve"], { env: this.env, stdio: ["ignore", "ignore", "inherit"] });
    this.child = child;
    // A test that dies must not leave its server running.
    const reap = () => child.kill("SIGKILL");
    process.once("exit", reap);
    child.once("exit", () => process.off("exit", reap));
    this.exited = new Promise((r) => child.once("exit", r));
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`the server exited with ${child.exitCode}`);
      try {
        return (await fetch(`${this.baseUrl}/healthz`)).ok;
      } catch {
        return false;
      }
    }, 30_000, "the server to listen");
    return this;
  }

  /** Stops the server as an orchestrator does (SIGTERM, drained). */
  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGCONT");
    this.child.kill("SIGTERM");
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 20_000);
    await this.exited;
    clearTimeout(killer);
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  /**
   * Freezes (SIGSTOP) or thaws (SIGCONT) the server: it holds sockets but answers nothing.
   * A freeze resolves once every thread of the server has stopped: the kernel stops the
   * threads of a process one after another, and a worker still running on the other core
   * would answer a request sent right after `kill`.
   */
  async freeze(frozen) {
    this.child.kill(frozen ? "SIGSTOP" : "SIGCONT");
    if (!frozen) return;
    const tasks = `/proc/${this.child.pid}/task`;
    await until(() => readdirSync(tasks).every((tid) => threadStopped(`${tasks}/${tid}/stat`)), 10_000, "every server thread to stop");
  }

  async dispose() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** An admin's access token, minted with the server's key. */
  adminToken() {
    return this.cli("admin", "mint-token", "--user", crypto.randomUUID(), "--role", "admin", "--ttl", "1h");
  }

  /** Pushes a custom event to `userId`'s feed; answers its seq. */
  async push(adminToken, userId, data) {
    const response = await fetch(`${this.baseUrl}/v1/admin/users/${userId}/events`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "custom.note", data }),
    });
    const body = await response.json();
    if (!response.ok) throw new Error(`push: ${response.status} ${JSON.stringify(body)}`);
    return body.seq;
  }
}

/** A TCP proxy to `port` on loopback; `cut()` drops every connection, `refuse()` new ones. */
export class Proxy {
  constructor(targetPort) {
    this.targetPort = targetPort;
    this.pairs = new Set();
    this.refusing = false;
    this.server = net.createServer((client) => {
      if (this.refusing) return client.destroy();
      const upstream = net.connect(this.targetPort, "127.0.0.1");
      const pair = [client, upstream];
      this.pairs.add(pair);
      const end = () => {
        client.destroy();
        upstream.destroy();
        this.pairs.delete(pair);
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
  }

  async listen() {
    await new Promise((r) => this.server.listen(0, "127.0.0.1", r));
    this.port = this.server.address().port;
    return this;
  }

  get baseUrl() {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Drops every open connection abruptly (no close frame): the client sees a network loss. */
  cut() {
    for (const [client, upstream] of this.pairs) {
      client.resetAndDestroy?.() ?? client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  refuse(refusing) {
    this.refusing = refusing;
  }

  async close() {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

/** Whether the thread whose `/proc/.../stat` is at `path` is stopped (state `T`); a thread that has exited counts as stopped. */
function threadStopped(path) {
  try {
    // The state follows the command name, which is in parentheses and may hold spaces.
    const stat = readFileSync(path, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] === "T";
  } catch {
    return true;
  }
}
