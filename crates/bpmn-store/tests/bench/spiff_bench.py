"""Runs tests/models/bench.bpmn in SpiffWorkflow, in memory, for the dsf-bpmn-store benchmark.

Usage: python3 spiff_bench.py MODEL WAIT_MODEL N; prints "<instances/s> <correlations/s>".
Service tasks set variables as the dsf-bpmn benchmark's delegate does; ${...} conditions are
evaluated as Python after removing the ${ } wrapper.
"""

import sys
import time

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.camunda.parser import CamundaParser


class JuelWrapperEngine(PythonScriptEngine):
    def evaluate(self, task, expression, external_context=None):
        expression = expression.strip()
        if expression.startswith("${") and expression.endswith("}"):
            expression = expression[2:-1]
        return super().evaluate(task, expression, external_context)


def set_variable(self, task):
    n = task.data.get("counter", 0)
    task.data["counter"] = n + 1
    task.data["result%d" % n] = "value %d" % n
    return True


ServiceTask._execute = set_variable


def main():
    model, wait_model, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    parser = CamundaParser()
    parser.add_bpmn_files([model, wait_model])
    bench = parser.get_spec("bench")
    wait = parser.get_spec("benchWait")
    engine = JuelWrapperEngine()

    started = time.perf_counter()
    for _ in range(n):
        wf = BpmnWorkflow(bench, script_engine=engine)
        wf.do_engine_steps()
        assert wf.is_completed()
    instances = n / (time.perf_counter() - started)

    waiting = []
    for _ in range(n):
        wf = BpmnWorkflow(wait, script_engine=engine)
        wf.do_engine_steps()
        waiting.append(wf)
    started = time.perf_counter()
    for wf in waiting:
        wf.catch(BpmnEvent(MessageEventDefinition("continue"), {}))
        wf.do_engine_steps()
        assert wf.is_completed()
    correlations = n / (time.perf_counter() - started)
    print("%.1f %.1f" % (instances, correlations))


if __name__ == "__main__":
    main()
