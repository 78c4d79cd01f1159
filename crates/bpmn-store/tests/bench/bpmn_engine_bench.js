// Runs tests/models/bench.bpmn in bpmn-engine (npm), in memory, for the dsf-bpmn-store benchmark.
//
// Usage: NODE_PATH=<node_modules> node bpmn_engine_bench.js MODEL WAIT_MODEL N; prints
// "<instances/s> <correlations/s>". Service tasks set variables as the dsf-bpmn benchmark's
// delegate does; ${...} conditions are evaluated as JavaScript over the process variables.
'use strict';

const fs = require('fs');
const { Engine } = require('bpmn-engine');

const source = fs.readFileSync(process.argv[2], 'utf8');
const waitSource = fs.readFileSync(process.argv[3], 'utf8');
const n = Number(process.argv[4]);

let serviceCalls = 0;
let highEnds = 0;

function setVariable(activity) {
  if (activity.id === 'high') activity.on('end', () => highEnds++);
  if (activity.type !== 'bpmn:ServiceTask') return;
  activity.behaviour.Service = function Service() {
    return {
      execute(executionMessage, callback) {
        const vars = activity.environment.variables;
        const count = vars.counter || 0;
        vars.counter = count + 1;
        vars['result' + count] = 'value ' + count;
        serviceCalls++;
        callback();
      },
    };
  };
}

const expressions = {
  resolveExpression(expression, context) {
    const m = /^\$\{(.*)\}$/s.exec(String(expression).trim());
    if (!m) return expression;
    const vars = (context && context.environment && context.environment.variables) || {};
    return Function(...Object.keys(vars), 'return (' + m[1] + ');')(...Object.values(vars));
  },
  isExpression(text) {
    return typeof text === 'string' && text.includes('${');
  },
  hasExpression(text) {
    return typeof text === 'string' && text.includes('${');
  },
};

function run() {
  return new Promise((resolve, reject) => {
    const engine = new Engine({ source, expressions, extensions: { setVariable } });
    engine.once('end', (execution) => resolve(execution));
    engine.once('error', reject);
    engine.execute().catch(reject);
  });
}

async function main() {
  let started = process.hrtime.bigint();
  for (let i = 0; i < n; i++) {
    await run();
  }
  if (serviceCalls !== 3 * n || highEnds !== n) {
    throw new Error('unexpected path: ' + serviceCalls + ' service calls, ' + highEnds + ' high ends');
  }
  const instances = n / (Number(process.hrtime.bigint() - started) / 1e9);

  // correlations: start instances waiting at the receive task, then deliver the message to each
  const waiting = [];
  for (let i = 0; i < n; i++) {
    const engine = new Engine({ source: waitSource });
    const execution = await engine.execute();
    waiting.push({ engine, execution });
  }
  started = process.hrtime.bigint();
  for (const { engine, execution } of waiting) {
    const ended = new Promise((resolve) => engine.once('end', resolve));
    execution.signal({ id: 'continue' });
    await ended;
  }
  const correlations = n / (Number(process.hrtime.bigint() - started) / 1e9);
  process.stdout.write(instances.toFixed(1) + ' ' + correlations.toFixed(1) + '\n');
}

main().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n');
  process.exit(1);
});
