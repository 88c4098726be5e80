// `npm start` will boot the control plane, router and local backend (`skiff up`).
// Until that lands it says so plainly instead of pretending.
console.error(
  'skiff: `npm start` is not available yet: the local backend and `skiff up` are still being built.\n' +
    'What works today: `npm test`, and the queue-proxy (see queue-proxy/README.md).',
);
process.exit(1);
