/** Reading a running service's Prometheus exposition, as the benchmarks do. */

/** An instance's /metrics text, or undefined when it did not answer within 5 s. */
export function metricsText(port: number): Promise<string | undefined> {
  return fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5000) }).then(
    (response) => (response.ok ? response.text() : undefined),
    () => undefined,
  );
}
