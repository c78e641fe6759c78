/** A sampling kernel: every implementation gives bit-identical counts under the stream rule. */
export interface Kernel {
  readonly name: string;
  /** Inside count of blocks [startBlock, endBlock) of a job of `jobSamples` samples (last block may be partial). */
  countInside(seed: number, startBlock: number, endBlock: number, jobSamples: number): number;
}
