// Loaded with NODE_OPTIONS=--require into a child process: prints its peak RSS (KiB) on stderr when it exits.
process.on('exit', () => {
  require('node:fs').writeSync(2, `\nPEAK_RSS_KB ${process.resourceUsage().maxRSS}\n`);
});
