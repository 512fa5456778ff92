/**
 * Typed calls of the Workbench REST API.
 */

import { requestAPI } from './request';
import type {
  IConfigFile,
  IJob,
  ILogChunk,
  IPoints,
  IPointsQuery,
  IProfiles,
  IStatus,
  IStudies,
  ITrial
} from './types';

/** The API surface the panel uses (an interface, so views can be driven by recorded payloads). */
export interface IWorkbenchAPI {
  status(storage?: string): Promise<IStatus>;
  studies(storage?: string): Promise<IStudies>;
  points(study: string, query: IPointsQuery, storage?: string): Promise<IPoints>;
  trial(study: string, number: number, storage?: string): Promise<ITrial>;
  profiles(): Promise<IProfiles>;
  configs(): Promise<{ configs: IConfigFile[] }>;
  jobs(): Promise<{ jobs: IJob[] }>;
  launch(config: string, options?: { trials?: number; storage?: string }): Promise<IJob>;
  cancel(id: string, force?: boolean): Promise<IJob>;
  log(id: string, offset: number, waitSeconds?: number): Promise<ILogChunk>;
}

export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') {
      q.set(k, String(v));
    }
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

const enc = encodeURIComponent;

export class WorkbenchAPI implements IWorkbenchAPI {
  status(storage?: string): Promise<IStatus> {
    return requestAPI<IStatus>(`status${query({ storage })}`);
  }

  studies(storage?: string): Promise<IStudies> {
    return requestAPI<IStudies>(`studies${query({ storage })}`);
  }

  points(study: string, q: IPointsQuery, storage?: string): Promise<IPoints> {
    return requestAPI<IPoints>(`studies/${enc(study)}/points${query({ ...q, storage })}`);
  }

  trial(study: string, number: number, storage?: string): Promise<ITrial> {
    return requestAPI<ITrial>(`studies/${enc(study)}/trials/${number}${query({ storage })}`);
  }

  profiles(): Promise<IProfiles> {
    return requestAPI<IProfiles>('profiles');
  }

  configs(): Promise<{ configs: IConfigFile[] }> {
    return requestAPI<{ configs: IConfigFile[] }>('configs');
  }

  jobs(): Promise<{ jobs: IJob[] }> {
    return requestAPI<{ jobs: IJob[] }>('jobs');
  }

  launch(config: string, options: { trials?: number; storage?: string } = {}): Promise<IJob> {
    return requestAPI<IJob>('jobs', {
      method: 'POST',
      body: JSON.stringify({ config, ...options })
    });
  }

  cancel(id: string, force = false): Promise<IJob> {
    return requestAPI<IJob>(`jobs/${enc(id)}/cancel`, {
      method: 'POST',
      body: JSON.stringify({ force })
    });
  }

  log(id: string, offset: number, waitSeconds = 0): Promise<ILogChunk> {
    return requestAPI<ILogChunk>(
      `jobs/${enc(id)}/log${query({ offset, wait: waitSeconds || undefined })}`
    );
  }
}
