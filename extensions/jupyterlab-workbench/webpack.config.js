// Merged into @jupyterlab/builder's webpack config (package.json: jupyterlab.webpackConfig).
// plotly.js-dist-min ships minified: minifying its 4.6 MB again costs minutes and saves nothing,
// so chunks holding it are passed through as they are.
const TerserPlugin = require('terser-webpack-plugin');

function minify(input, sourceMap, minimizerOptions, extractComments) {
  const code = Object.values(input)[0];
  if (typeof code === 'string' && code.length > 1e6 && code.includes('plotly.js')) {
    return { code, map: sourceMap };
  }
  return TerserPlugin.terserMinify(input, sourceMap, minimizerOptions, extractComments);
}

module.exports = {
  module: {
    noParse: /plotly\.min\.js$/
  },
  optimization: {
    minimizer: [new TerserPlugin({ minify, parallel: false })]
  }
};
