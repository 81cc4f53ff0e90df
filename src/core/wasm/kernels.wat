;; Numeric kernels on flat float arrays (WebAssembly SIMD). Compiled to kernels-wasm.ts by
;; scripts/build-wasm.mjs. All pointers are byte offsets into the module's memory; n counts elements.
(module
  ;; The memory is imported so that one compiled module serves many arenas (see kernels.ts).
  (import "env" "memory" (memory 1))

  ;; acc[i] += w * x[i]   (f32 accumulator, f32 input)
  (func (export "axpy32") (param $acc i32) (param $x i32) (param $n i32) (param $w f32)
    (local $end i32) (local $vend i32) (local $wv v128)
    (local.set $wv (f32x4.splat (local.get $w)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $x) (local.get $vend)))
        (v128.store (local.get $acc)
          (f32x4.add (v128.load (local.get $acc)) (f32x4.mul (local.get $wv) (v128.load (local.get $x)))))
        (v128.store offset=16 (local.get $acc)
          (f32x4.add (v128.load offset=16 (local.get $acc)) (f32x4.mul (local.get $wv) (v128.load offset=16 (local.get $x)))))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 32)))
        (br $v)))
    (block $done
      (loop $s
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (f32.store (local.get $acc) (f32.add (f32.load (local.get $acc)) (f32.mul (local.get $w) (f32.load (local.get $x)))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 4)))
        (br $s))))

  ;; acc64[i] += x32[i]; x32[i] = 0   (folds a float32 partial sum into the float64 total)
  (func (export "fold") (param $acc i32) (param $x i32) (param $n i32)
    (local $end i32) (local $vend i32) (local $v v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2))))
    (block $vdone
      (loop $l
        (br_if $vdone (i32.ge_u (local.get $x) (local.get $vend)))
        (local.set $v (v128.load (local.get $x)))
        (v128.store (local.get $acc) (f64x2.add (v128.load (local.get $acc)) (f64x2.promote_low_f32x4 (local.get $v))))
        (v128.store offset=16 (local.get $acc)
          (f64x2.add (v128.load offset=16 (local.get $acc))
                     (f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $v) (local.get $v)))))
        (v128.store (local.get $x) (v128.const i32x4 0 0 0 0))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 32)))
        (br $l)))
    (block $done
      (loop $s
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (f64.store (local.get $acc) (f64.add (f64.load (local.get $acc)) (f64.promote_f32 (f32.load (local.get $x)))))
        (f32.store (local.get $x) (f32.const 0))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
        (br $s))))

  ;; 1 if every x[i] is finite (exponent bits not all ones), else 0
  (func (export "allFinite") (param $x i32) (param $n i32) (result i32)
    (local $end i32) (local $vend i32) (local $bad v128) (local $e v128) (local $sbad i32)
    (local.set $e (i32x4.splat (i32.const 0x7f800000)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $vdone
      (loop $l
        (br_if $vdone (i32.ge_u (local.get $x) (local.get $vend)))
        (local.set $bad (v128.or (local.get $bad)
          (v128.or
            (i32x4.eq (v128.and (v128.load (local.get $x)) (local.get $e)) (local.get $e))
            (i32x4.eq (v128.and (v128.load offset=16 (local.get $x)) (local.get $e)) (local.get $e)))))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (br $l)))
    (block $done
      (loop $s
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $sbad (i32.or (local.get $sbad)
          (i32.eq (i32.and (i32.load (local.get $x)) (i32.const 0x7f800000)) (i32.const 0x7f800000))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (br $s)))
    (i32.and (i32.eqz (v128.any_true (local.get $bad))) (i32.eqz (local.get $sbad))))

  ;; out[i] = acc[i] + w * x[i]; returns 1 if every out[i] is finite, else 0. Writing to a second
  ;; buffer lets the caller keep `acc` untouched when the input is rejected (double buffering).
  (func (export "axpy32Checked") (param $out i32) (param $acc i32) (param $x i32) (param $n i32) (param $w f32) (result i32)
    (local $end i32) (local $vend i32) (local $wv v128) (local $e v128) (local $bad v128) (local $r v128) (local $r2 v128) (local $sbad i32) (local $s f32)
    (local.set $wv (f32x4.splat (local.get $w)))
    (local.set $e (i32x4.splat (i32.const 0x7f800000)))
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $x) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $x) (local.get $vend)))
        (local.set $r (f32x4.add (v128.load (local.get $acc)) (f32x4.mul (local.get $wv) (v128.load (local.get $x)))))
        (local.set $r2 (f32x4.add (v128.load offset=16 (local.get $acc)) (f32x4.mul (local.get $wv) (v128.load offset=16 (local.get $x)))))
        (v128.store (local.get $out) (local.get $r))
        (v128.store offset=16 (local.get $out) (local.get $r2))
        (local.set $bad (v128.or (local.get $bad)
          (v128.or
            (i32x4.eq (v128.and (local.get $r) (local.get $e)) (local.get $e))
            (i32x4.eq (v128.and (local.get $r2) (local.get $e)) (local.get $e)))))
        (local.set $x (i32.add (local.get $x) (i32.const 32)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 32)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (br $v)))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $s (f32.add (f32.load (local.get $acc)) (f32.mul (local.get $w) (f32.load (local.get $x)))))
        (f32.store (local.get $out) (local.get $s))
        (local.set $sbad (i32.or (local.get $sbad)
          (i32.eq (i32.and (i32.reinterpret_f32 (local.get $s)) (i32.const 0x7f800000)) (i32.const 0x7f800000))))
        (local.set $x (i32.add (local.get $x) (i32.const 4)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $l)))
    (i32.and (i32.eqz (v128.any_true (local.get $bad))) (i32.eqz (local.get $sbad))))

  ;; out[i] = f32(base[i] + s * acc64[i])   (the mean added to a base vector, e.g. the global model)
  (func (export "finish") (param $out i32) (param $base i32) (param $acc i32) (param $n i32) (param $s f64)
    (local $end i32)
    (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
    (block $done
      (loop $l
        (br_if $done (i32.ge_u (local.get $out) (local.get $end)))
        (f32.store (local.get $out)
          (f32.demote_f64 (f64.add (f64.promote_f32 (f32.load (local.get $base)))
                                   (f64.mul (local.get $s) (f64.load (local.get $acc))))))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (local.set $base (i32.add (local.get $base) (i32.const 4)))
        (local.set $acc (i32.add (local.get $acc) (i32.const 8)))
        (br $l))))

  ;; out[i] = a[i] - b[i]   (out may alias a)
  (func (export "sub") (param $out i32) (param $a i32) (param $b i32) (param $n i32)
    (local $end i32) (local $vend i32)
    (local.set $end (i32.add (local.get $a) (i32.shl (local.get $n) (i32.const 2))))
    (local.set $vend (i32.add (local.get $a) (i32.shl (i32.and (local.get $n) (i32.const -8)) (i32.const 2))))
    (block $vdone
      (loop $v
        (br_if $vdone (i32.ge_u (local.get $a) (local.get $vend)))
        (v128.store (local.get $out) (f32x4.sub (v128.load (local.get $a)) (v128.load (local.get $b))))
        (v128.store offset=16 (local.get $out) (f32x4.sub (v128.load offset=16 (local.get $a)) (v128.load offset=16 (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 32)))
        (local.set $b (i32.add (local.get $b) (i32.const 32)))
        (local.set $out (i32.add (local.get $out) (i32.const 32)))
        (br $v)))
    (block $done
      (loop $s
        (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
        (f32.store (local.get $out) (f32.sub (f32.load (local.get $a)) (f32.load (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 4)))
        (local.set $b (i32.add (local.get $b) (i32.const 4)))
        (local.set $out (i32.add (local.get $out) (i32.const 4)))
        (br $s))))
)
