import { createGitCli } from '../dist/git/git-cli.js';
const cli = createGitCli({
  token: 'sekret',
  allowedProtocols: ['http', 'https', 'file'],
  timeoutMs: 10000,
  scratchDir: '/tmp/stowage-scratch',
});
const s = await cli.scratch('t');
try {
  console.log(await cli.run(['init', '--bare', 'r'], { cwd: s.dir }));
  console.log(await cli.run(['config', '--list', '--show-origin'], { cwd: s.dir + '/r' }));
  console.log(await cli.run(['hash-object', '-w', '--stdin'], { cwd: s.dir + '/r', input: 'hello\n' }));
  try {
    await cli.run(['cat-file', '-p', 'deadbeef'], { cwd: s.dir + '/r' });
  } catch (e) {
    console.log('ERR', e.code, e.message);
  }
} finally {
  await s.remove();
}
