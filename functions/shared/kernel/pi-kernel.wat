;; The sampling kernel in WebAssembly SIMD. It implements the stream rule of stream-rule.ts and
;; gives the same inside count as ts-kernel.ts for every (seed, block, samples).
;;
;; Vectorised ACROSS blocks: the stream rule makes block b's samples consecutive draws of one
;; xoshiro128** generator, so the eight i32x4 lanes of two vectors (A = lanes 0..3, B = lanes 4..7)
;; each run their own block, eight consecutive blocks per group.
;;
;; Inside test, exact: with a = x >>> 7 and b = y >>> 7 (25-bit lattice coordinates) a sample is
;; inside iff a(a+1) + b(b+1) <= 2^50 - 1. A 15-bit pre-test decides almost every sample:
;; with ah = x >>> 17 = a >>> 10 and P = ah^2 + bh^2 (one i32x4.dot_i16x8_s),
;;   P <= 2^30 - 2^17  =>  inside,  because 2a+1 < 2^11 (ah+1), so
;;                          (2a+1)^2 + (2b+1)^2 < 2^22 (P + 2 ah + 2 bh + 2) < 2^22 (P + 2^17) <= 2^52;
;;   P >  2^30         =>  outside, because 2a+1 > 2^11 ah, so (2a+1)^2 + (2b+1)^2 > 2^22 P > 2^52.
;; When a lane falls between (about 1 sample in 10^4) the whole vector is retested with exact
;; 64-bit products ($exactInside). Both branches give the exact answer; the pre-test only saves work.
;;
;; Memory (one page, private to the module):
;;     0..127  lane states: word w of lane k at 32 w + 4 k, so each word is two i32x4 vectors (A, B)
;;   128..159  samples of each lane's block (i32)
;;   160..191  per-lane inside counts, stored as the lanes finish
;;   192..255  constants, loaded once per call so that V8 keeps them in registers
(module
  (memory 1)
  (data (i32.const 192)
    "\05\00\00\00\05\00\00\00\05\00\00\00\05\00\00\00"   ;; 192 five: xoshiro128** output multiplier
    "\09\00\00\00\09\00\00\00\09\00\00\00\09\00\00\00"   ;; 208 nine: xoshiro128** output multiplier
    "\01\00\fe\3f\01\00\fe\3f\01\00\fe\3f\01\00\fe\3f"   ;; 224 2^30 - 2^17 + 1: P below is surely inside
    "\01\00\00\40\01\00\00\40\01\00\00\40\01\00\00\40")  ;; 240 2^30 + 1: P below may be inside

  ;; SplitMix64's output function (Stafford's Mix13), as mix64 in stream-rule.ts.
  (func $mix64 (param $z i64) (result i64)
    (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 30)))
                           (i64.const 0xbf58476d1ce4e5b9)))
    (local.set $z (i64.mul (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 27)))
                           (i64.const 0x94d049bb133111eb)))
    (i64.xor (local.get $z) (i64.shr_u (local.get $z) (i64.const 31))))

  ;; Writes the xoshiro128** state of a block into lane $lane, as blockState in stream-rule.ts:
  ;; SplitMix64 started at mix64(mix64(seed) XOR block) gives two 64-bit outputs, low word first.
  (func $seedLane (param $seedKey i64) (param $block i64) (param $lane i32)
    (local $state i64) (local $z0 i64) (local $z1 i64)
    (local.set $state (call $mix64 (i64.xor (local.get $seedKey) (local.get $block))))
    (local.set $z0 (call $mix64 (local.tee $state (i64.add (local.get $state) (i64.const 0x9e3779b97f4a7c15)))))
    (local.set $z1 (call $mix64 (i64.add (local.get $state) (i64.const 0x9e3779b97f4a7c15))))
    (if (i64.eqz (i64.or (local.get $z0) (local.get $z1))) (then (local.set $z0 (i64.const 1))))
    (local.set $lane (i32.shl (local.get $lane) (i32.const 2)))
    (i32.store offset=0 (local.get $lane) (i32.wrap_i64 (local.get $z0)))
    (i32.store offset=32 (local.get $lane) (i32.wrap_i64 (i64.shr_u (local.get $z0) (i64.const 32))))
    (i32.store offset=64 (local.get $lane) (i32.wrap_i64 (local.get $z1)))
    (i32.store offset=96 (local.get $lane) (i32.wrap_i64 (i64.shr_u (local.get $z1) (i64.const 32)))))

  ;; Samples of block $block inside the range (ending at $end) of a job of $jobSamples samples:
  ;; 16384, or fewer for the job's last block, or 0 past the range or the job.
  (func $blockSamples (param $block i64) (param $end i64) (param $jobSamples i64) (result i32)
    (local $fullBlocks i64)
    (local.set $fullBlocks (i64.shr_u (local.get $jobSamples) (i64.const 14)))
    (if (i64.ge_u (local.get $block) (local.get $end)) (then (return (i32.const 0))))
    (if (i64.lt_u (local.get $block) (local.get $fullBlocks)) (then (return (i32.const 16384))))
    (if (i64.eq (local.get $block) (local.get $fullBlocks))
      (then (return (i32.wrap_i64 (i64.and (local.get $jobSamples) (i64.const 16383))))))
    (i32.const 0))

  ;; The exact test on four samples: a(a+1) + b(b+1) < 2^50, i.e. the high word of the 64-bit sum
  ;; is below 2^18. Lanes are -1 (inside) or 0.
  (func $exactInside (param $x v128) (param $y v128) (result v128)
    (local $a v128) (local $b v128) (local $a1 v128) (local $b1 v128)
    (local.set $a (i32x4.shr_u (local.get $x) (i32.const 7)))
    (local.set $b (i32x4.shr_u (local.get $y) (i32.const 7)))
    (local.set $a1 (i32x4.add (local.get $a) (v128.const i32x4 1 1 1 1)))
    (local.set $b1 (i32x4.add (local.get $b) (v128.const i32x4 1 1 1 1)))
    (i32x4.lt_s
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31
        (i64x2.add (i64x2.extmul_low_i32x4_u (local.get $a) (local.get $a1))
                   (i64x2.extmul_low_i32x4_u (local.get $b) (local.get $b1)))
        (i64x2.add (i64x2.extmul_high_i32x4_u (local.get $a) (local.get $a1))
                   (i64x2.extmul_high_i32x4_u (local.get $b) (local.get $b1))))
      (v128.const i32x4 0x40000 0x40000 0x40000 0x40000)))

  ;; Inside count of blocks [startBlock, endBlock) of a job of jobSamples samples. Arguments are
  ;; non-negative integers below 2^53 (checked by the caller); the count is exact in a double.
  (func (export "countInside")
    (param $seed f64) (param $startBlock f64) (param $endBlock f64) (param $jobSamples f64) (result f64)
    (local $seedKey i64) (local $group i64) (local $end i64) (local $job i64) (local $total i64)
    (local $lane i32) (local $i i32) (local $target i32)
    (local $five v128) (local $nine v128) (local $sure v128) (local $near v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $aInside v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128) (local $bInside v128)
    (local $x v128) (local $y v128) (local $r v128) (local $t v128) (local $p v128) (local $in v128)
    (local.set $five (v128.load offset=192 (i32.const 0)))
    (local.set $nine (v128.load offset=208 (i32.const 0)))
    (local.set $sure (v128.load offset=224 (i32.const 0)))
    (local.set $near (v128.load offset=240 (i32.const 0)))
    (local.set $seedKey (call $mix64 (i64.trunc_f64_u (local.get $seed))))
    (local.set $group (i64.trunc_f64_u (local.get $startBlock)))
    (local.set $end (i64.trunc_f64_u (local.get $endBlock)))
    (local.set $job (i64.trunc_f64_u (local.get $jobSamples)))
    (block $done
      (loop $groups
        (br_if $done (i64.ge_u (local.get $group) (local.get $end)))
        (local.set $lane (i32.const 0))
        (loop $seedLanes
          (call $seedLane (local.get $seedKey)
            (i64.add (local.get $group) (i64.extend_i32_u (local.get $lane))) (local.get $lane))
          (i32.store offset=128 (i32.shl (local.get $lane) (i32.const 2))
            (call $blockSamples (i64.add (local.get $group) (i64.extend_i32_u (local.get $lane)))
              (local.get $end) (local.get $job)))
          (br_if $seedLanes
            (i32.ne (local.tee $lane (i32.add (local.get $lane) (i32.const 1))) (i32.const 8))))
        (local.set $a0 (v128.load offset=0 (i32.const 0)))
        (local.set $a1 (v128.load offset=32 (i32.const 0)))
        (local.set $a2 (v128.load offset=64 (i32.const 0)))
        (local.set $a3 (v128.load offset=96 (i32.const 0)))
        (local.set $b0 (v128.load offset=16 (i32.const 0)))
        (local.set $b1 (v128.load offset=48 (i32.const 0)))
        (local.set $b2 (v128.load offset=80 (i32.const 0)))
        (local.set $b3 (v128.load offset=112 (i32.const 0)))
        (local.set $aInside (v128.const i32x4 0 0 0 0))
        (local.set $bInside (v128.const i32x4 0 0 0 0))
        ;; A group's blocks are consecutive and only the job's last block is partial, so the lanes'
        ;; sample counts never increase with the lane index. Run all lanes up to lane 7's count and
        ;; take lane 7's inside count there, then on to lane 6's count, and so on down to lane 0.
        (local.set $i (i32.const 0))
        (local.set $lane (i32.const 8))
        (loop $lanesByCount
          (local.set $lane (i32.sub (local.get $lane) (i32.const 1)))
          (local.set $target (i32.load offset=128 (i32.shl (local.get $lane) (i32.const 2))))
          (block $reached
            (loop $samples
              (br_if $reached (i32.ge_u (local.get $i) (local.get $target)))

              ;; Vector A. x = rotl(s1 * 5, 7) * 9, then the xoshiro128 state update.
              (local.set $r (i32x4.mul (local.get $a1) (local.get $five)))
              (local.set $x (i32x4.mul (v128.or (i32x4.shl (local.get $r) (i32.const 7))
                                                (i32x4.shr_u (local.get $r) (i32.const 25)))
                                       (local.get $nine)))
              (local.set $t (i32x4.shl (local.get $a1) (i32.const 9)))
              (local.set $a2 (v128.xor (local.get $a2) (local.get $a0)))
              (local.set $a3 (v128.xor (local.get $a3) (local.get $a1)))
              (local.set $a1 (v128.xor (local.get $a1) (local.get $a2)))
              (local.set $a0 (v128.xor (local.get $a0) (local.get $a3)))
              (local.set $a2 (v128.xor (local.get $a2) (local.get $t)))
              (local.set $a3 (v128.or (i32x4.shl (local.get $a3) (i32.const 11))
                                      (i32x4.shr_u (local.get $a3) (i32.const 21))))
              ;; y, the same way.
              (local.set $r (i32x4.mul (local.get $a1) (local.get $five)))
              (local.set $y (i32x4.mul (v128.or (i32x4.shl (local.get $r) (i32.const 7))
                                                (i32x4.shr_u (local.get $r) (i32.const 25)))
                                       (local.get $nine)))
              (local.set $t (i32x4.shl (local.get $a1) (i32.const 9)))
              (local.set $a2 (v128.xor (local.get $a2) (local.get $a0)))
              (local.set $a3 (v128.xor (local.get $a3) (local.get $a1)))
              (local.set $a1 (v128.xor (local.get $a1) (local.get $a2)))
              (local.set $a0 (v128.xor (local.get $a0) (local.get $a3)))
              (local.set $a2 (v128.xor (local.get $a2) (local.get $t)))
              (local.set $a3 (v128.or (i32x4.shl (local.get $a3) (i32.const 11))
                                      (i32x4.shr_u (local.get $a3) (i32.const 21))))
              ;; P = ah^2 + bh^2: ah into the low and bh into the high i16 of each lane, one dot.
              (local.set $p (i32x4.dot_i16x8_s
                (local.tee $r (i8x16.shuffle 0 1 18 19 4 5 22 23 8 9 26 27 12 13 30 31
                  (i32x4.shr_u (local.get $x) (i32.const 17))
                  (i32x4.shr_u (local.get $y) (i32.const 1))))
                (local.get $r)))
              (local.set $in (i32x4.lt_s (local.get $p) (local.get $sure)))
              (if (v128.any_true (v128.andnot (i32x4.lt_s (local.get $p) (local.get $near)) (local.get $in)))
                (then (local.set $in (call $exactInside (local.get $x) (local.get $y)))))
              (local.set $aInside (i32x4.sub (local.get $aInside) (local.get $in)))

              ;; Vector B, the same.
              (local.set $r (i32x4.mul (local.get $b1) (local.get $five)))
              (local.set $x (i32x4.mul (v128.or (i32x4.shl (local.get $r) (i32.const 7))
                                                (i32x4.shr_u (local.get $r) (i32.const 25)))
                                       (local.get $nine)))
              (local.set $t (i32x4.shl (local.get $b1) (i32.const 9)))
              (local.set $b2 (v128.xor (local.get $b2) (local.get $b0)))
              (local.set $b3 (v128.xor (local.get $b3) (local.get $b1)))
              (local.set $b1 (v128.xor (local.get $b1) (local.get $b2)))
              (local.set $b0 (v128.xor (local.get $b0) (local.get $b3)))
              (local.set $b2 (v128.xor (local.get $b2) (local.get $t)))
              (local.set $b3 (v128.or (i32x4.shl (local.get $b3) (i32.const 11))
                                      (i32x4.shr_u (local.get $b3) (i32.const 21))))
              (local.set $r (i32x4.mul (local.get $b1) (local.get $five)))
              (local.set $y (i32x4.mul (v128.or (i32x4.shl (local.get $r) (i32.const 7))
                                                (i32x4.shr_u (local.get $r) (i32.const 25)))
                                       (local.get $nine)))
              (local.set $t (i32x4.shl (local.get $b1) (i32.const 9)))
              (local.set $b2 (v128.xor (local.get $b2) (local.get $b0)))
              (local.set $b3 (v128.xor (local.get $b3) (local.get $b1)))
              (local.set $b1 (v128.xor (local.get $b1) (local.get $b2)))
              (local.set $b0 (v128.xor (local.get $b0) (local.get $b3)))
              (local.set $b2 (v128.xor (local.get $b2) (local.get $t)))
              (local.set $b3 (v128.or (i32x4.shl (local.get $b3) (i32.const 11))
                                      (i32x4.shr_u (local.get $b3) (i32.const 21))))
              (local.set $p (i32x4.dot_i16x8_s
                (local.tee $r (i8x16.shuffle 0 1 18 19 4 5 22 23 8 9 26 27 12 13 30 31
                  (i32x4.shr_u (local.get $x) (i32.const 17))
                  (i32x4.shr_u (local.get $y) (i32.const 1))))
                (local.get $r)))
              (local.set $in (i32x4.lt_s (local.get $p) (local.get $sure)))
              (if (v128.any_true (v128.andnot (i32x4.lt_s (local.get $p) (local.get $near)) (local.get $in)))
                (then (local.set $in (call $exactInside (local.get $x) (local.get $y)))))
              (local.set $bInside (i32x4.sub (local.get $bInside) (local.get $in)))

              (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br $samples)))
          (v128.store offset=160 (i32.const 0) (local.get $aInside))
          (v128.store offset=176 (i32.const 0) (local.get $bInside))
          (local.set $total (i64.add (local.get $total)
            (i64.extend_i32_u (i32.load offset=160 (i32.shl (local.get $lane) (i32.const 2))))))
          (br_if $lanesByCount (local.get $lane)))
        (local.set $group (i64.add (local.get $group) (i64.const 8)))
        (br $groups)))
    (f64.convert_i64_u (local.get $total)))
)
