/**
 * The notebook the panel opens for a study: code that explores it with the widget library.
 */

import { relativePath } from './format';
import type { IStorageInfo } from './types';

export interface INotebookRequest {
  study: string;
  storage: IStorageInfo;
  /** Folder (root-relative) the notebook is created in; its kernel starts there. */
  notebookDir: string;
  /** The panel's current selection, reproduced in the code. */
  profile?: string;
  deployment?: string;
  x?: string;
  y?: string;
}

/** A Python string literal. */
export function pyString(s: string): string {
  return JSON.stringify(s);
}

/**
 * The storage URL as the notebook's kernel must write it: an SQLite file under the root is
 * made relative to the notebook's folder; a URL whose password was hidden is read from the
 * environment instead of being written into the notebook.
 */
export function storageForNotebook(
  storage: IStorageInfo,
  notebookDir: string
): {
  code: string;
  note: string | null;
} {
  if (storage.sqlite_path) {
    const rel = relativePath(notebookDir, storage.sqlite_path);
    return { code: pyString(`sqlite:///${rel}`), note: null };
  }
  if (storage.url.includes('***')) {
    return {
      code: 'os.environ["WORKBENCH_STORAGE"]',
      note: `set WORKBENCH_STORAGE to ${storage.url} with its password`
    };
  }
  return { code: pyString(storage.url), note: null };
}

/** Code cells (source text) for the notebook. */
export function notebookCells(
  req: INotebookRequest
): { cell_type: 'markdown' | 'code'; source: string }[] {
  const st = storageForNotebook(req.storage, req.notebookDir);
  const imports = ['from workbench.widgets import ParetoExplorer'];
  if (st.note) {
    imports.unshift('import os');
  }
  const key =
    req.profile && req.deployment && req.deployment !== 'all'
      ? `${req.profile}/${req.deployment}`
      : null;
  const x = req.x ?? 'latency';
  const y = req.y ?? 'accuracy';
  const cells: { cell_type: 'markdown' | 'code'; source: string }[] = [
    {
      cell_type: 'markdown',
      source:
        `# Study \`${req.study}\`\n\n` +
        `Storage: \`${req.storage.url}\`${st.note ? ` (${st.note})` : ''}.\n\n` +
        'Latencies say whether they were **measured** on this host or **predicted** for a simulated ' +
        "device; accuracy is each deployed artifact's own, on the held-out test split."
    },
    {
      cell_type: 'code',
      source: [
        ...imports,
        '',
        `STUDY = ${pyString(req.study)}`,
        `STORAGE = ${st.code}`,
        '',
        'explorer = ParetoExplorer(STUDY, storage=STORAGE)',
        'explorer'
      ].join('\n')
    },
    {
      cell_type: 'code',
      source: [
        'from workbench.study import load_results, open_study',
        '',
        'results = load_results(open_study(STUDY, STORAGE))',
        key
          ? `front = results.front(${pyString(key)}, ${pyString(x)}, ${pyString(y)})`
          : `fronts = results.fronts(${pyString(x)}, ${pyString(y)}${req.profile ? `, profile=${pyString(req.profile)}` : ''})\nfront = next(iter(fronts.values()))`,
        'print(f"{front.key}: {len(front.trials)} Pareto-optimal trials, knee at trial {front.knee}")',
        'for trial, (x, y) in zip(front.trials, front.points):',
        '    print(trial, x, y)'
      ].join('\n')
    }
  ];
  return cells;
}

/** A complete nbformat 4 notebook (JSON) for `req`. */
export function notebookContent(req: INotebookRequest): Record<string, unknown> {
  return {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: {
      kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' },
      language_info: { name: 'python' },
      workbench: { study: req.study, storage: req.storage.url }
    },
    cells: notebookCells(req).map((c, i) =>
      c.cell_type === 'markdown'
        ? { id: `wb-${i}`, cell_type: 'markdown', metadata: {}, source: c.source }
        : {
            id: `wb-${i}`,
            cell_type: 'code',
            metadata: {},
            source: c.source,
            outputs: [],
            execution_count: null
          }
    )
  };
}

/** A file name for the notebook: `explore-<study>.ipynb`, safe characters only. */
export function notebookName(study: string): string {
  const safe = study.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'study';
  return `explore-${safe}.ipynb`;
}
