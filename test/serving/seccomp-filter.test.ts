import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seccompFilter } from '../../serving/src/supervisor/sandbox/seccomp.js';

// The filter's verdicts, read off the compiled program by a small classic-BPF interpreter (the
// instructions it uses: ld abs, jeq, jset, ret), so a wrong jump or number fails here, not in a sandbox.
function run(program: Buffer, data: { nr: number; arch: number; arg0?: number }): number {
  const mem = Buffer.alloc(64);
  mem.writeInt32LE(data.nr, 0);
  mem.writeUInt32LE(data.arch, 4);
  mem.writeUInt32LE((data.arg0 ?? 0) >>> 0, 16);
  let a = 0;
  for (let pc = 0; pc < program.length / 8; ) {
    const code = program.readUInt16LE(pc * 8);
    const jt = program.readUInt8(pc * 8 + 2);
    const jf = program.readUInt8(pc * 8 + 3);
    const k = program.readUInt32LE(pc * 8 + 4);
    if (code === 0x20) a = mem.readUInt32LE(k);
    else if (code === 0x15) pc += a === k ? jt : jf;
    else if (code === 0x45) pc += (a & k) !== 0 ? jt : jf;
    else if (code === 0x06) return k;
    else throw new Error(`unexpected opcode ${code}`);
    pc++;
  }
  throw new Error('fell off the end of the program');
}

const ALLOW = 0x7fff0000;
const errno = (e: number) => 0x00050000 | e;
const X64 = 0xc000003e;

for (const [name, data, verdict] of [
  ['read', { nr: 0, arch: X64 }, ALLOW],
  ['a thread (clone with CLONE_VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|PARENT_SETTID|CHILD_CLEARTID)', { nr: 56, arch: X64, arg0: 0x3d0f00 }, ALLOW],
  ['clone with CLONE_NEWUSER', { nr: 56, arch: X64, arg0: 0x10000000 | 17 }, errno(1)],
  ['clone with CLONE_NEWNET', { nr: 56, arch: X64, arg0: 0x40000000 }, errno(1)],
  ['clone3 (made to look absent)', { nr: 435, arch: X64 }, errno(38)],
  ['unshare', { nr: 272, arch: X64 }, errno(1)],
  ['ptrace', { nr: 101, arch: X64 }, errno(1)],
  ['io_uring_setup', { nr: 425, arch: X64 }, errno(38)],
  ['socket(AF_UNIX)', { nr: 41, arch: X64, arg0: 1 }, ALLOW],
  ['socket(AF_INET)', { nr: 41, arch: X64, arg0: 2 }, errno(97)],
  ['socket(AF_NETLINK)', { nr: 41, arch: X64, arg0: 16 }, errno(97)],
  ['an x32 syscall', { nr: 0x40000000 | 41, arch: X64, arg0: 2 }, errno(38)],
  ['another architecture (i386)', { nr: 0, arch: 0x40000003 }, 0x80000000],
] as const) {
  test(`seccomp on x86_64: ${name}`, () => {
    const f = seccompFilter('x64');
    assert.ok('program' in f);
    assert.equal(run(f.program, data).toString(16), verdict.toString(16));
  });
}

test('seccomp on arm64: clone with a namespace flag and inet sockets are refused, threads and unix sockets are not', () => {
  const f = seccompFilter('arm64');
  assert.ok('program' in f);
  const A64 = 0xc00000b7;
  assert.equal(run(f.program, { nr: 220, arch: A64, arg0: 0x10000000 }), errno(1));
  assert.equal(run(f.program, { nr: 220, arch: A64, arg0: 0x3d0f00 }), ALLOW);
  assert.equal(run(f.program, { nr: 198, arch: A64, arg0: 2 }), errno(97));
  assert.equal(run(f.program, { nr: 198, arch: A64, arg0: 1 }), ALLOW);
  assert.equal(run(f.program, { nr: 56, arch: X64 }), 0x80000000, 'an x86_64 call on an arm64 filter');
});

test('no seccomp table for an unknown architecture: said, not guessed', () => {
  assert.deepEqual(seccompFilter('mips'), { problem: 'no syscall table for mips' });
});
