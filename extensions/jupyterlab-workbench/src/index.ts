/**
 * JupyterLab extension: the Workbench side panel, a "Run" action on search/*.yaml files, and
 * "open in notebook" for a study.
 */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, InputDialog, Notification } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { LabIcon } from '@jupyterlab/ui-components';

import { WorkbenchAPI } from './api';
import { isSearchConfig } from './format';
import { notebookContent, notebookName } from './notebook';
import { WorkbenchPanel } from './panel';
import { StudyView } from './study';

const PLUGIN_ID = 'jupyterlab-workbench:plugin';

const CommandIDs = {
  show: 'workbench:show',
  refresh: 'workbench:refresh',
  runConfig: 'workbench:run-config',
  openNotebook: 'workbench:open-notebook',
  setStorage: 'workbench:set-storage'
} as const;

const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16" height="16">
  <g class="jp-icon3" fill="#616161">
    <path d="M3 20h18v1.6H3z"/>
    <circle cx="6" cy="15.5" r="1.6"/><circle cx="9.5" cy="10" r="1.6"/><circle cx="14" cy="7" r="1.6"/><circle cx="19" cy="5.5" r="1.6"/>
    <circle cx="12" cy="15" r="1.1"/><circle cx="16.5" cy="12" r="1.1"/><circle cx="19" cy="16" r="1.1"/>
    <path d="M6 15.5L9.5 10 14 7l5-1.5" fill="none" stroke="#616161" stroke-width="1.2" class="jp-icon3"/>
  </g>
</svg>`;

export const workbenchIcon = new LabIcon({ name: 'workbench:pareto', svgstr: ICON_SVG });

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'Workbench panel: studies, Pareto fronts, hardware profiles and background runs.',
  autoStart: true,
  optional: [ILayoutRestorer, ISettingRegistry, ICommandPalette, IDefaultFileBrowser],
  activate: async (
    app: JupyterFrontEnd,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    palette: ICommandPalette | null,
    browser: IDefaultFileBrowser | null
  ) => {
    let storage = '';
    let refreshSeconds = 15;
    const api = new WorkbenchAPI();

    const openNotebook = async (req: {
      study: string;
      profile?: string;
      deployment?: string;
      x?: string;
      y?: string;
    }): Promise<void> => {
      const info = panel.studies?.storage ?? {
        url: storage || 'sqlite:///runs/workbench.db',
        sqlite_path: storage ? null : 'runs/workbench.db',
        exists: true
      };
      const dir = browser?.model.path ?? '';
      const content = notebookContent({ ...req, storage: info, notebookDir: dir });
      const contents = app.serviceManager.contents;
      const wanted = PathExt.join(dir, notebookName(req.study));
      let path: string;
      try {
        await contents.get(wanted, { content: false });
        path = (await contents.newUntitled({ path: dir, type: 'notebook' })).path;
      } catch {
        path = wanted; // the friendly name is free
      }
      await contents.save(path, { type: 'notebook', format: 'json', content });
      await app.commands.execute('docmanager:open', { path, factory: 'Notebook' });
    };
    const views = new Map<string, StudyView>();
    const viewHost = { storage: () => storage || undefined, openNotebook };

    const panel = new WorkbenchPanel(api, {
      storage: () => storage || undefined,
      refreshSeconds: () => refreshSeconds,
      openStudy: (study, since) => {
        let view = views.get(study);
        if (!view || view.isDisposed) {
          view = new StudyView(api, viewHost, study);
          view.title.icon = workbenchIcon;
          views.set(study, view);
          app.shell.add(view, 'main');
          void view.load({}, since);
        } else {
          void view.load(undefined, since);
        }
        app.shell.activateById(view.id);
      }
    });
    panel.studiesChanged.connect((_, data) => {
      for (const [name, view] of views) {
        if (view.isDisposed) {
          views.delete(name);
        } else {
          view.studyChanged(data.studies.find(s => s.name === name));
        }
      }
    });
    panel.title.icon = workbenchIcon;
    app.shell.add(panel, 'left', { rank: 350 });
    restorer?.add(panel, 'workbench-panel');

    let settings: ISettingRegistry.ISettings | null = null;
    if (settingRegistry) {
      try {
        settings = await settingRegistry.load(PLUGIN_ID);
        const loaded = settings;
        const read = (): void => {
          storage = ((loaded.get('storage').composite as string) ?? '').trim();
          refreshSeconds = Number(loaded.get('refreshSeconds').composite ?? 15) || 15;
        };
        read();
        loaded.changed.connect(() => {
          read();
          void panel.refresh();
        });
      } catch (err) {
        console.warn('workbench: settings not loaded', err);
      }
    }

    app.commands.addCommand(CommandIDs.show, {
      label: 'Workbench: Show Panel',
      execute: () => app.shell.activateById(panel.id)
    });
    app.commands.addCommand(CommandIDs.refresh, {
      label: 'Workbench: Refresh',
      execute: () => panel.refresh()
    });
    app.commands.addCommand(CommandIDs.setStorage, {
      label: 'Workbench: Use Another Study Storage…',
      caption:
        'The Optuna storage URL the panel reads (empty: runs/workbench.db under the server root)',
      execute: async args => {
        let value = args.storage as string | undefined;
        if (value === undefined) {
          const result = await InputDialog.getText({
            title: 'Study storage URL',
            label:
              'e.g. sqlite:///runs/workbench.db or postgresql://user@host/db (empty: the default)',
            text: storage
          });
          if (!result.button.accept) {
            return;
          }
          value = result.value ?? '';
        }
        if (settings) {
          await settings.set('storage', value.trim());
        } else {
          storage = value.trim();
          await panel.refresh();
        }
      }
    });
    app.commands.addCommand(CommandIDs.openNotebook, {
      label: 'Workbench: Open Study in Notebook',
      execute: async args => {
        const study = (args.study as string) || panel.selectedStudy;
        if (study) {
          await openNotebook({ study });
        }
      }
    });
    const selectedConfig = (): string | null => {
      const item = browser?.selectedItems().next();
      const path = item && !item.done ? item.value.path : null;
      return path && isSearchConfig(path) ? path : null;
    };
    app.commands.addCommand(CommandIDs.runConfig, {
      label: args => (args.path ? `Run ${args.path as string}` : 'Run with Workbench'),
      caption: 'Run (or resume) this study config in the background: workbench run CONFIG',
      icon: workbenchIcon,
      isVisible: args => !!((args.path as string) || selectedConfig()),
      execute: async args => {
        const path = (args.path as string) || selectedConfig();
        if (!path) {
          return;
        }
        app.shell.activateById(panel.id);
        const job = await panel.launch(path, args.trials ? Number(args.trials) : undefined);
        if (job) {
          Notification.info(`Workbench: running ${path} (study ${job.study ?? '?'})`, {
            autoClose: 4000
          });
        } else {
          Notification.error(`Workbench: ${path} was not started; see the Runs section`, {
            autoClose: 8000
          });
        }
        return job;
      }
    });
    app.contextMenu.addItem({
      command: CommandIDs.runConfig,
      selector: '.jp-DirListing-item[data-isdir="false"]',
      rank: 3
    });
    if (palette) {
      for (const command of [CommandIDs.show, CommandIDs.refresh, CommandIDs.setStorage]) {
        palette.addItem({ command, category: 'Workbench' });
      }
    }
  }
};

export default plugin;
