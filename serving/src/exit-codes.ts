/**
 * Exit status a worker uses when restarting cannot help (sysexits EX_CONFIG: its model file
 * fails its digest, its config is unusable). The supervisor quarantines instead of retrying.
 */
export const EXIT_DO_NOT_RESTART = 78;
