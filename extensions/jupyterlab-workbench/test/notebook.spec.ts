import { notebookCells, notebookContent, notebookName, storageForNotebook } from '../src/notebook';

const storage = {
  url: 'sqlite:///runs/workbench.db',
  sqlite_path: 'runs/workbench.db',
  exists: true
};

describe('the notebook a study opens in', () => {
  it('explores the study with ParetoExplorer, storage relative to the notebook', () => {
    const cells = notebookCells({ study: 'quick "start"', storage, notebookDir: 'notebooks' });
    const code = cells[1].source;
    expect(code).toContain('from workbench.widgets import ParetoExplorer');
    expect(code).toContain('STUDY = "quick \\"start\\""');
    expect(code).toContain('STORAGE = "sqlite:///../runs/workbench.db"');
    expect(code).toContain('explorer = ParetoExplorer(STUDY, storage=STORAGE)');
  });

  it('reproduces the selected deployment and axes', () => {
    const cells = notebookCells({
      study: 's',
      storage,
      notebookDir: '',
      profile: 'host-cpu',
      deployment: 'torch/onnxruntime-int8-static',
      x: 'size',
      y: 'accuracy'
    });
    expect(cells[2].source).toContain(
      'front = results.front("host-cpu/torch/onnxruntime-int8-static", "size", "accuracy")'
    );
    const all = notebookCells({
      study: 's',
      storage,
      notebookDir: '',
      profile: 'host-cpu',
      deployment: 'all'
    });
    expect(all[2].source).toContain(
      'fronts = results.fronts("latency", "accuracy", profile="host-cpu")'
    );
  });

  it('never writes a hidden password into the notebook', () => {
    const st = storageForNotebook(
      { url: 'postgresql://me:***@db/studies', sqlite_path: null, exists: true },
      ''
    );
    expect(st.code).toBe('os.environ["WORKBENCH_STORAGE"]');
    const cells = notebookCells({
      study: 's',
      storage: { url: 'postgresql://me:***@db/studies', sqlite_path: null, exists: true },
      notebookDir: ''
    });
    expect(cells[1].source.startsWith('import os\n')).toBe(true);
    expect(
      storageForNotebook({ url: 'sqlite:////data/w.db', sqlite_path: null, exists: true }, 'x').code
    ).toBe('"sqlite:////data/w.db"');
  });

  it('is a valid nbformat 4 document with a safe file name', () => {
    const nb = notebookContent({ study: 's', storage, notebookDir: '' }) as {
      nbformat: number;
      cells: { cell_type: string; outputs?: unknown[]; id: string }[];
    };
    expect(nb.nbformat).toBe(4);
    expect(nb.cells.map(c => c.cell_type)).toEqual(['markdown', 'code', 'code']);
    expect(nb.cells[1].outputs).toEqual([]);
    expect(new Set(nb.cells.map(c => c.id)).size).toBe(3);
    expect(notebookName('my study/v2')).toBe('explore-my-study-v2.ipynb');
  });
});
