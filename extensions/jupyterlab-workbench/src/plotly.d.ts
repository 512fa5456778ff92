// The few plotly.js functions the panel calls (the full typings are large and version-bound).
declare module 'plotly.js-dist-min' {
  export function react(
    root: HTMLElement,
    data: object[],
    layout?: object,
    config?: object
  ): Promise<HTMLElement>;
  export function purge(root: HTMLElement): void;
}
