/**
 * Shapes of the Workbench REST API (`<base_url>/workbench/api/`), as the server sends them.
 */

export type Direction = 'maximize' | 'minimize';
export type Source = 'measured' | 'predicted' | 'mixed' | 'none';

export interface IStorageInfo {
  url: string;
  sqlite_path: string | null;
  exists: boolean;
}

export interface IObjective {
  name: string;
  direction: Direction;
  axis: string | null;
  label: string;
  unit: string;
}

export interface IBestValue {
  name: string;
  direction: Direction;
  value: number | null;
  trial: number | null;
  source: 'measured' | 'predicted' | null;
  axis: string | null;
  unit: string;
}

export type StudyStatus = 'running' | 'empty' | 'failed' | 'partial' | 'finished';

export interface IStudySummary {
  name: string;
  n_trials: number;
  n_complete: number;
  n_failed: number;
  n_running: number;
  target_trials: number | null;
  status: StudyStatus;
  job: string | null;
  objectives: IObjective[];
  best: IBestValue[];
  synthetic: boolean;
  objective_deployment: string | null;
  datetime_start: string | null;
  datetime_last: string | null;
}

export interface IStudies {
  storage: IStorageInfo;
  studies: IStudySummary[];
  note?: string;
}

export interface IAxis {
  name: string;
  label: string;
  unit: string;
  direction: Direction;
}

export interface ISeries {
  key: string;
  profile: string;
  framework: string;
  deployment: string;
  source: Source;
  n: number;
  trial: number[];
  x: number[];
  y: number[];
  predicted: number[];
  pareto: number[];
  front: number[];
  knee: number | null;
  hypervolume: number;
}

export interface IPoints {
  study: string;
  storage: string;
  n_trials: number;
  profile: string;
  profiles: string[];
  deployment: string;
  deployments: string[];
  x: IAxis;
  y: IAxis;
  axes: IAxis[];
  objectives: IObjective[];
  reference: number[];
  synthetic: boolean;
  series: ISeries[];
  front_arch: Record<string, string>;
  index_cached: boolean;
  /** where the study's index came from: the server's cache, its worker process, or a thread */
  index_loaded_by: 'cache' | 'process' | 'thread';
  elapsed_ms: number;
}

export interface IPointsQuery {
  profile?: string;
  deployment?: string;
  x?: string;
  y?: string;
}

export interface IMeasurement {
  key: string;
  source: 'measured' | 'predicted' | null;
  status: string | null;
  accuracy: number | null;
  latency: {
    p50_ms: number | null;
    p90_ms: number | null;
    p99_ms: number | null;
    n: number | null;
    cv: number | null;
  } | null;
  size_bytes: number | null;
  peak_memory_bytes: number | null;
  error: string | null;
  stage: string | null;
  int8_scheme: string | null;
}

export interface ITrial {
  study: string;
  number: number;
  state: string;
  values: (number | null)[] | null;
  arch: string | null;
  n_params: number | null;
  macs: number | null;
  objective_key: string | null;
  failure: { stage?: string; reason?: string } | null;
  measurements: IMeasurement[];
}

export interface IProfile {
  name: string;
  kind: 'measured' | 'simulated';
  source: 'measured' | 'predicted';
  description: string;
  device: string;
  backends: string[];
  precisions: string[];
  file: string;
}

export interface IProfiles {
  profiles: IProfile[];
  errors: { name: string; message: string }[];
}

export interface IConfigFile {
  path: string;
  name: string;
  mtime: number;
}

export type JobStatus =
  | 'queued'
  | 'running'
  | 'cancelling'
  | 'done'
  | 'failed'
  | 'bad-input'
  | 'interrupted'
  | 'cancelled'
  | 'killed';

export interface IJob {
  id: string;
  config: string;
  study: string | null;
  storage: string | null;
  status: JobStatus;
  created: number;
  started: number | null;
  finished: number | null;
  returncode: number | null;
  total: number | null;
  finished_before: number | null;
  done: number | null;
  stage: string | null;
  last_trial: {
    number: number;
    state: string;
    values: number[] | null;
    failure: { stage?: string; reason?: string } | null;
  } | null;
  new_complete: number;
  new_failed: number;
  message: string | null;
  pid: number | null;
  command: string;
  log_tail?: string[];
}

export interface ILogChunk {
  id: string;
  offset: number;
  next_offset: number;
  size: number;
  text: string;
  status: JobStatus;
  final: boolean;
}

export interface IStatus {
  version: string;
  root: string;
  storage: IStorageInfo;
  jobs: { running: number; queued: number };
}
