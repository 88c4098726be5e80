#!/usr/bin/env node
// A gRPC server for Skiff's tests (@grpc/grpc-js, h2c on $PORT), with messages as JSON:
//   /skiff.Test/Unary         {name, sleepMs?, fail?} → {message}; fail → NOT_FOUND with trailer x-why
//   /skiff.Test/Count         server streaming: {count, intervalMs} → {i} × count
//   /skiff.Test/Sum           client streaming: {n} × k → {sum}
//   /skiff.Test/Double        bidirectional: {n} → {n: 2n}, one answer per message
//   /skiff.Test/Counters      {} → {overlaps, maxConcurrent}: calls in progress at once (Unary, Count)
import * as grpc from '@grpc/grpc-js';

const json = { serialize: (v) => Buffer.from(JSON.stringify(v)), deserialize: (b) => JSON.parse(b.toString()) };
const method = (name, requestStream, responseStream) => ({
  path: `/skiff.Test/${name}`,
  requestStream,
  responseStream,
  requestSerialize: json.serialize,
  requestDeserialize: json.deserialize,
  responseSerialize: json.serialize,
  responseDeserialize: json.deserialize,
});
const service = {
  Unary: method('Unary', false, false),
  Count: method('Count', false, true),
  Sum: method('Sum', true, false),
  Double: method('Double', true, true),
  Counters: method('Counters', false, false),
};

let inProgress = 0;
let maxConcurrent = 0;
let overlaps = 0;
const begin = () => {
  inProgress++;
  if (inProgress > 1) overlaps++;
  maxConcurrent = Math.max(maxConcurrent, inProgress);
};

const server = new grpc.Server();
server.addService(service, {
  Unary(call, callback) {
    const { name, sleepMs = 0, fail = false } = call.request;
    begin();
    setTimeout(() => {
      inProgress--;
      if (fail) {
        const trailer = new grpc.Metadata();
        trailer.set('x-why', 'asked to fail');
        callback({ code: grpc.status.NOT_FOUND, details: `no ${name} here`, metadata: trailer });
        return;
      }
      const trailer = new grpc.Metadata();
      trailer.set('x-served-by', process.env.K_REVISION ?? 'app');
      callback(null, { message: `hello ${name}` }, trailer);
    }, sleepMs);
  },
  Count(call) {
    const { count, intervalMs = 0 } = call.request;
    begin();
    let i = 0;
    const next = () => {
      if (call.cancelled) {
        inProgress--;
        return;
      }
      if (i === count) {
        inProgress--;
        call.end();
        return;
      }
      call.write({ i: i++ });
      setTimeout(next, intervalMs);
    };
    call.on('cancelled', () => {});
    next();
  },
  Sum(call, callback) {
    let sum = 0;
    call.on('data', (m) => {
      sum += m.n;
    });
    call.on('end', () => callback(null, { sum }));
  },
  Double(call) {
    call.on('data', (m) => call.write({ n: m.n * 2 }));
    call.on('end', () => call.end());
  },
  Counters(_call, callback) {
    callback(null, { overlaps, maxConcurrent });
  },
});
const port = Number(process.env.PORT ?? 8080);
// HOST: the loopback address the local backend gives this replica (127.0.0.N when replicas share
// a containerPort).
server.bindAsync(`${process.env.HOST ?? '127.0.0.1'}:${port}`, grpc.ServerCredentials.createInsecure(), (error) => {
  if (error) {
    console.error(error.message);
    process.exit(1);
  }
  console.log(`grpc app listening on ${port}`);
});
