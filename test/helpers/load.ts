import { Agent, request } from 'node:http';

/** One answer through the router: when it finished, its status and the revision that served it. */
export interface Sample {
  at: number;
  status: number;
  revision: string | undefined;
}

export interface Load {
  samples: Sample[];
  /**
   * Stops sending; resolves once every request in flight is answered, or after `graceMs` (15 s)
   * cuts the ones still waiting (status 0: a request held for a revision that lost its replicas
   * waits up to the revision's timeout, as Knative's activator holds it).
   */
  stop(graceMs?: number): Promise<Sample[]>;
}

/**
 * Closed-loop clients sending `GET path` to the router with a Host header, as fast as answers
 * come (each client waits `pauseMs` between requests), on keep-alive connections.
 */
export function startLoad(port: number, host: string, clients = 6, path = '/', pauseMs = 0): Load {
  const agent = new Agent({ keepAlive: true, maxSockets: clients });
  const samples: Sample[] = [];
  let running = true;
  const one = () =>
    new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, path, headers: { host }, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const revision = res.headers['skiff-revision'];
          samples.push({
            at: Date.now(),
            status: res.statusCode ?? 0,
            revision: typeof revision === 'string' ? revision : undefined,
          });
          resolve();
        });
        res.on('error', () => resolve());
        res.on('close', () => resolve());
      });
      req.on('error', () => {
        samples.push({ at: Date.now(), status: 0, revision: undefined });
        resolve();
      });
      req.end();
    });
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      await one();
      if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    samples,
    async stop(graceMs = 15_000) {
      running = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([Promise.all(loops), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
      clearTimeout(timer);
      agent.destroy();
      await Promise.all(loops);
      return samples;
    },
  };
}
