/** Payloads shaped as the server sends them (see tests/server for the server side). */
import type { IJob, IPoints, IStudySummary } from '../src/types';

export function points(over: Partial<IPoints> = {}): IPoints {
  return {
    study: 'demo',
    storage: 'sqlite:///runs/workbench.db',
    n_trials: 5,
    profile: 'host-cpu',
    profiles: ['host-cpu', 'pi-sim'],
    deployment: 'torch/onnxruntime-fp32',
    deployments: ['torch/torch-fp32', 'torch/onnxruntime-fp32'],
    x: { name: 'latency', label: 'latency p50', unit: 'ms', direction: 'minimize' },
    y: {
      name: 'accuracy',
      label: 'accuracy (test split, of the artifact)',
      unit: '',
      direction: 'maximize'
    },
    axes: [],
    objectives: [
      { name: 'accuracy', direction: 'maximize', axis: 'accuracy', label: 'accuracy', unit: '' },
      {
        name: 'latency_p50_ms',
        direction: 'minimize',
        axis: 'latency',
        label: 'latency p50',
        unit: 'ms'
      }
    ],
    reference: [0.9, 0],
    synthetic: false,
    series: [
      {
        key: 'host-cpu/torch/onnxruntime-fp32',
        profile: 'host-cpu',
        framework: 'torch',
        deployment: 'onnxruntime-fp32',
        source: 'measured',
        n: 5,
        trial: [0, 1, 2, 3, 4],
        x: [0.5, 0.2, 0.9, 0.1, 0.3],
        y: [0.9, 0.8, 0.95, 0.7, 0.85],
        predicted: [0, 0, 0, 0, 0],
        pareto: [1, 1, 1, 1, 0],
        front: [3, 1, 0, 2],
        knee: 1,
        hypervolume: 0.5
      }
    ],
    front_arch: { '0': 'mlp 32', '1': 'mlp 16', '2': 'mlp 64-32', '3': 'mlp 8' },
    index_cached: false,
    index_loaded_by: 'thread',
    elapsed_ms: 3,
    ...over
  };
}

export function study(over: Partial<IStudySummary> = {}): IStudySummary {
  return {
    name: 'quickstart',
    n_trials: 16,
    n_complete: 15,
    n_failed: 1,
    n_running: 0,
    target_trials: 16,
    status: 'finished',
    job: null,
    objectives: [
      { name: 'accuracy', direction: 'maximize', axis: 'accuracy', label: 'accuracy', unit: '' },
      {
        name: 'latency_p50_ms',
        direction: 'minimize',
        axis: 'latency',
        label: 'latency p50',
        unit: 'ms'
      }
    ],
    best: [
      {
        name: 'accuracy',
        direction: 'maximize',
        value: 0.9537,
        trial: 3,
        source: null,
        axis: 'accuracy',
        unit: ''
      },
      {
        name: 'latency_p50_ms',
        direction: 'minimize',
        value: 0.02134,
        trial: 7,
        source: 'measured',
        axis: 'latency',
        unit: 'ms'
      }
    ],
    synthetic: false,
    objective_deployment: 'fastest',
    datetime_start: '2026-01-01T10:00:00',
    datetime_last: '2026-01-01T10:02:00',
    ...over
  };
}

export function job(over: Partial<IJob> = {}): IJob {
  return {
    id: '0123456789ab',
    config: 'search/tiny.yaml',
    study: 'tiny',
    storage: 'sqlite:///runs/workbench.db',
    status: 'running',
    created: 1000,
    started: 1000,
    finished: null,
    returncode: null,
    total: 4,
    finished_before: 0,
    done: 1,
    stage: 'trial 1: measure',
    last_trial: { number: 0, state: 'complete', values: [0.9, 0.02], failure: null },
    new_complete: 1,
    new_failed: 0,
    message: null,
    pid: 42,
    command: 'workbench run search/tiny.yaml --progress-json /tmp/p.jsonl',
    ...over
  };
}
