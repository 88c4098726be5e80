// The body-parsing thread: parses what `parse-worker.ts` sends it, off the event loop that the API
// (and, under `skiff up`, the router) runs on.
import { parentPort } from 'node:worker_threads';
import { type Format, parseDocument } from '@skiff/shared';

export interface ParseRequest {
  id: number;
  text: string;
  format: Format;
}

// The answer goes back as JSON text: the main thread reads 15,000 labels from JSON in milliseconds,
// but took 200 ms to take the same object as a structured clone. The API's values are JSON anyway.
parentPort?.on('message', ({ id, text, format }: ParseRequest) => {
  parentPort?.postMessage({ id, json: JSON.stringify(parseDocument(text, format)) });
});
// Loaded: from here on, the time a body takes is its own (loading took seconds on a busy machine).
parentPort?.postMessage({ ready: true });
