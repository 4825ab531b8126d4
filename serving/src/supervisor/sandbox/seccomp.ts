// A seccomp filter for pool workers, as the classic BPF program bwrap --seccomp loads. Built here
// in a few dozen lines rather than with libseccomp: that needs a native addon compiled at install
// time (a toolchain vigil's users may not have) or a binary blob nobody could review, and the
// program is small: a deny-list on top of namespaces that already take the network and the host's
// files away. Denied: what lets a process reach past its sandbox or into the kernel's less
// trodden paths (other processes' memory, mounts and namespaces, keyrings, eBPF, perf, modules,
// userfaultfd, io_uring), new namespaces by clone (clone3 is made to look absent, so glibc uses
// clone, whose flags a filter can see) and every socket family but AF_UNIX.

/** errno values (the same on x86_64 and aarch64). */
const EPERM = 1;
const ENOSYS = 38;
const EAFNOSUPPORT = 97;

const AF_UNIX = 1;
/** CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME. */
const CLONE_NEW_ANY = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;

interface ArchTable {
  audit: number;
  /** x86_64's x32 ABI marks its syscall numbers with this bit; refuse them all. */
  x32Bit?: number;
  socket: number;
  /** clone: refused when its flags ask for a new namespace (unshare's way round). */
  clone: number;
  /** Syscalls refused with EPERM. */
  denied: number[];
  /** Refused with ENOSYS, so libraries fall back as on a kernel without them (libuv's io_uring). */
  missing: number[];
}

// Numbers from the kernel's syscall tables (arch/x86/entry/syscalls/syscall_64.tbl and
// include/uapi/asm-generic/unistd.h). Order: ptrace, process_vm_readv, process_vm_writev, mount,
// umount2, pivot_root, chroot, unshare, setns, keyctl, add_key, request_key, bpf,
// perf_event_open, userfaultfd, kexec_load, kexec_file_load, init_module, finit_module,
// delete_module, swapon, swapoff, reboot, open_by_handle_at, name_to_handle_at, acct,
// settimeofday, clock_settime, quotactl, fanotify_init, open_tree, move_mount, fsopen, fsconfig,
// fsmount, fspick, mount_setattr.
const TABLES: Record<string, ArchTable> = {
  x64: {
    audit: 0xc000003e,
    x32Bit: 0x40000000,
    socket: 41,
    clone: 56,
    denied: [101, 310, 311, 165, 166, 155, 161, 272, 308, 250, 248, 249, 321, 298, 323, 246, 320, 175, 313, 176, 167, 168, 169, 304, 303, 163, 164, 227, 179, 300, 428, 429, 430, 431, 432, 433, 442],
    missing: [425, 426, 427, 435],
  },
  arm64: {
    audit: 0xc00000b7,
    socket: 198,
    clone: 220,
    denied: [117, 270, 271, 40, 39, 41, 51, 97, 268, 219, 217, 218, 280, 241, 282, 104, 294, 105, 273, 106, 224, 225, 142, 265, 264, 89, 170, 112, 60, 262, 428, 429, 430, 431, 432, 433, 442],
    missing: [425, 426, 427, 435],
  },
};

// Classic BPF opcodes (linux/filter.h, linux/seccomp.h).
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JSET_K = 0x45;
const RET_K = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_KILL_PROCESS = 0x80000000;
const retErrno = (errno: number) => 0x00050000 | errno;
// struct seccomp_data: int nr; u32 arch; u64 instruction_pointer; u64 args[6] (little endian).
const NR = 0;
const ARCH = 4;
const ARG0_LOW = 16;

type Insn = [code: number, jt: number, jf: number, k: number];

/** The filter for this machine's architecture, or why there is none. */
export function seccompFilter(arch: string = process.arch): { program: Buffer } | { problem: string } {
  const t = TABLES[arch];
  if (!t) return { problem: `no syscall table for ${arch}` };
  return { program: encode(program(t)) };
}

export function program(t: ArchTable): Insn[] {
  const p: Insn[] = [
    [LD_W_ABS, 0, 0, ARCH],
    [JEQ_K, 1, 0, t.audit],
    [RET_K, 0, 0, RET_KILL_PROCESS], // another ABI than the one this table describes
    [LD_W_ABS, 0, 0, NR],
  ];
  if (t.x32Bit) p.push([JSET_K, 0, 1, t.x32Bit], [RET_K, 0, 0, retErrno(ENOSYS)]);
  for (const nr of t.denied) p.push([JEQ_K, 0, 1, nr], [RET_K, 0, 0, retErrno(EPERM)]);
  for (const nr of t.missing) p.push([JEQ_K, 0, 1, nr], [RET_K, 0, 0, retErrno(ENOSYS)]);
  p.push(
    // clone with a CLONE_NEW* flag: EPERM; any other clone (threads, fork): allowed.
    [JEQ_K, 0, 4, t.clone],
    [LD_W_ABS, 0, 0, ARG0_LOW],
    [JSET_K, 0, 1, CLONE_NEW_ANY],
    [RET_K, 0, 0, retErrno(EPERM)],
    [RET_K, 0, 0, RET_ALLOW],
    [JEQ_K, 0, 4, t.socket],
    [LD_W_ABS, 0, 0, ARG0_LOW],
    [JEQ_K, 0, 1, AF_UNIX],
    [RET_K, 0, 0, RET_ALLOW],
    [RET_K, 0, 0, retErrno(EAFNOSUPPORT)],
    [RET_K, 0, 0, RET_ALLOW],
  );
  return p;
}

/** struct sock_filter[]: u16 code, u8 jt, u8 jf, u32 k, little endian. */
function encode(insns: Insn[]): Buffer {
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}
