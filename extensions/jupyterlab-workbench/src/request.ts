import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { errorMessage } from './format';

/** An API error with the server's one-line message and the HTTP status. */
export class WorkbenchAPIError extends Error {
  constructor(
    message: string,
    readonly status: number
  ) {
    super(message);
    this.name = 'WorkbenchAPIError';
  }
}

/**
 * Call the Workbench server extension (`<base_url>/workbench/api/<endPoint>`) with Jupyter's
 * authentication and XSRF headers; resolves with the parsed JSON, rejects with a
 * {@link WorkbenchAPIError} whose message is readable as is.
 */
export async function requestAPI<T>(
  endPoint = '',
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const requestUrl = URLExt.join(settings.baseUrl, 'workbench', 'api', endPoint);
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(requestUrl, init, settings);
  } catch (error) {
    throw new WorkbenchAPIError(
      `cannot reach the Jupyter server: ${(error as Error).message ?? error}`,
      0
    );
  }
  const text = await response.text();
  let data: unknown = text;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      // not JSON: errorMessage() falls back to the status line
    }
  }
  if (!response.ok) {
    throw new WorkbenchAPIError(
      errorMessage(data, response.status, response.statusText),
      response.status
    );
  }
  return data as T;
}
