"""Explicit float32 vector operations for the numba kernels (`models.conv_kernels`).

LLVM vectorises a loop over a row's columns, but a partial sum of several rows (several spikes'
tap vectors, a GEMM row's terms) then goes through memory once per row or group of rows. These
intrinsics keep each element's partial sum in a vector register while they add the rows. Each
lane does what the scalar loop did to its element: one IEEE float32 rounded addition per row
(`add_rows`), or one rounded product and one rounded addition per term, in term order from +0
(`taps_product`: no fused multiply-add, no reassociation, no fast-math flags), so the results are
bit for bit those of the loops they replace (`models.gemm.row_product`'s order). The masked sums
(`masked_sum`, `masked_gather_sum`) add a term only to the lanes a 16-bit mask selects, as a select
between the sum and the old value, so a lane whose bit is clear keeps its value exactly (adding
+0 would turn a -0 into +0).
Arrays must be C-contiguous (float32, or uint8 for `word8` and the masks); offsets are in elements (bytes
for the masks) and are not bounds-checked.
numba's on-disk cache checks only the file of each cached function, and these intrinsics are inlined
into `models/conv_kernels.py`'s: after editing this file, delete `models/__pycache__/*.nb[ic]`.
"""
from __future__ import annotations

from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_F32 = ir.FloatType()


def _float_array(t, ndim: int) -> bool:
    return isinstance(t, types.Array) and t.dtype == types.float32 and t.ndim == ndim and t.layout == "C"


def _vector_ptr(builder, base, offset, lanes: int):
    return builder.bitcast(builder.gep(base, [offset]), ir.VectorType(_F32, lanes).as_pointer())


def _register_loop(builder, count, start, body):
    """Emit `for q in range(count): values = body(q, values)` with the values (vectors) in registers from
    `start` -> their final values (`start` when count <= 0). `body` emits straight-line code."""
    intp = ir.IntType(64)
    entry = builder.basic_block
    loop = builder.append_basic_block("regs.loop")
    done = builder.append_basic_block("regs.done")
    builder.cbranch(builder.icmp_signed(">", count, ir.Constant(intp, 0)), loop, done)
    builder.position_at_end(loop)
    q = builder.phi(intp)
    values = [builder.phi(v.type) for v in start]
    new = body(q, values)
    q1 = builder.add(q, ir.Constant(intp, 1))
    builder.cbranch(builder.icmp_signed("<", q1, count), loop, done)
    q.add_incoming(ir.Constant(intp, 0), entry)
    q.add_incoming(q1, loop)
    for phi, v0, v1 in zip(values, start, new):
        phi.add_incoming(v0, entry)
        phi.add_incoming(v1, loop)
    builder.position_at_end(done)
    results = [builder.phi(v.type) for v in start]
    for phi, v0, v1 in zip(results, start, new):
        phi.add_incoming(v0, entry)
        phi.add_incoming(v1, loop)
    return results


@intrinsic
def word8(typingctx, a, off):
    """The eight bytes a[off:off + 8] of a 1-D uint8 array as one uint64 (any alignment): zero exactly
    when all eight are."""
    if not (isinstance(a, types.Array) and a.dtype == types.uint8 and a.ndim == 1 and a.layout == "C"):
        return None
    sig = types.uint64(a, types.intp)

    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        ptr = builder.bitcast(builder.gep(data, [args[1]]), ir.IntType(64).as_pointer())
        return builder.load(ptr, align=1)

    return sig, codegen


TAPS = 9  # the tap vectors of a 3 x 3 kernel that `taps_product` sums at once


def _make_dot(vectors: int, lanes: int):
    """An intrinsic: `vectors` x `lanes` columns of one GEMM row summed in registers."""

    @intrinsic
    def dot(typingctx, out, b, idx, val, nz):
        if not (_float_array(out, 1) and _float_array(b, 2) and _float_array(val, 1)
                and isinstance(idx, types.Array) and idx.dtype == types.intp and idx.ndim == 1):
            return None
        sig = types.void(out, b, idx, val, types.intp)

        def codegen(context, builder, signature, args):
            outv, bv, idxv, valv, nz = args
            barr = context.make_array(signature.args[1])(context, builder, bv)
            o = context.make_array(signature.args[0])(context, builder, outv).data
            stride = builder.extract_value(barr.strides, 0)  # bytes
            ip = context.make_array(signature.args[2])(context, builder, idxv).data
            vp = context.make_array(signature.args[3])(context, builder, valv).data
            vt = ir.VectorType(_F32, lanes)
            intp = ir.IntType(64)

            def body(q, accs):
                a = builder.load(builder.gep(vp, [q]))
                splat = builder.shuffle_vector(builder.insert_element(ir.Constant(vt, ir.Undefined), a,
                                                                      ir.Constant(ir.IntType(32), 0)),
                                               ir.Constant(vt, ir.Undefined),
                                               ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes))
                row_bytes = builder.mul(builder.load(builder.gep(ip, [q])), stride)
                row = builder.bitcast(builder.gep(builder.bitcast(barr.data, ir.IntType(8).as_pointer()), [row_bytes]),
                                      _F32.as_pointer())
                return [builder.fadd(acc, builder.fmul(splat, builder.load(
                    _vector_ptr(builder, row, ir.Constant(intp, lanes * v), lanes), align=4)))
                    for v, acc in enumerate(accs)]

            zero = ir.Constant(vt, [0.0] * lanes)
            for v, res in enumerate(_register_loop(builder, nz, [zero] * vectors, body)):
                builder.store(res, _vector_ptr(builder, o, ir.Constant(intp, lanes * v), lanes), align=4)
            return context.get_dummy_value()

        return sig, codegen

    return dot


_TAPS8, _TAPS16 = _make_dot(TAPS, 8), _make_dot(TAPS, 16)


@njit(cache=True, error_model="numpy", inline="always")
def taps_product(out, b, idx, val, nz):
    """out[j] = sum over q < nz, in order, from +0, of val[q] * b[idx[q], j] for the TAPS * 8 or TAPS * 16
    columns of `b` (F, TAPS * lanes), in registers: `models.gemm.row_product`'s sums."""
    if b.shape[1] == TAPS * 16:
        _TAPS16(out, b, idx, val, nz)
    else:
        _TAPS8(out, b, idx, val, nz)


def _make_sum(widths: tuple[int, ...]):
    """An intrinsic adding rows of a 1-D array onto sum(widths) floats of another, in registers (one
    vector of each width)."""

    @intrinsic
    def add_rows(typingctx, dst, d0, src, offs, count, j0):
        if not (_float_array(dst, 1) and _float_array(src, 1) and isinstance(offs, types.Array)
                and offs.dtype == types.intp and offs.ndim == 1):
            return None
        sig = types.void(dst, types.intp, src, offs, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            dv, d0, sv, ov, count, j0 = args
            d = context.make_array(signature.args[0])(context, builder, dv).data
            s = context.make_array(signature.args[2])(context, builder, sv).data
            op = context.make_array(signature.args[3])(context, builder, ov).data
            intp = ir.IntType(64)
            at = [sum(widths[:v]) for v in range(len(widths))]
            ptrs = [_vector_ptr(builder, d, builder.add(d0, ir.Constant(intp, a)), n) for a, n in zip(at, widths)]
            start = [builder.load(p, align=4) for p in ptrs]

            def body(q, accs):
                base = builder.add(builder.load(builder.gep(op, [q])), j0)
                return [builder.fadd(acc, builder.load(_vector_ptr(builder, s, builder.add(base, ir.Constant(intp, a)), n),
                                                       align=4)) for acc, a, n in zip(accs, at, widths)]

            for res, p in zip(_register_loop(builder, count, start, body), ptrs):
                builder.store(res, p, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return add_rows


_SUM64 = _make_sum((16, 16, 16, 16))
_SUM8, _SUM16, _SUM24, _SUM32 = _make_sum((8,)), _make_sum((16,)), _make_sum((16, 8)), _make_sum((16, 16))
_SUM40, _SUM48, _SUM56 = _make_sum((16, 16, 8)), _make_sum((16, 16, 16)), _make_sum((16, 16, 16, 8))


@njit(cache=True, error_model="numpy", inline="always")
def add_rows(dst, d0, src, offs, count, n):
    """dst[d0 + j] = (((dst[d0 + j] + src[offs[0] + j]) + src[offs[1] + j]) + ...) over q < count, in
    order, for j < n (a multiple of 8): each element's partial sum stays in a register, 64 columns
    at a time and the rest (8 to 56) in one more pass."""
    j = 0
    while j + 64 <= n:
        _SUM64(dst, d0 + j, src, offs, count, j)
        j += 64
    rest = n - j
    if rest == 8:
        _SUM8(dst, d0 + j, src, offs, count, j)
    elif rest == 16:
        _SUM16(dst, d0 + j, src, offs, count, j)
    elif rest == 24:
        _SUM24(dst, d0 + j, src, offs, count, j)
    elif rest == 32:
        _SUM32(dst, d0 + j, src, offs, count, j)
    elif rest == 40:
        _SUM40(dst, d0 + j, src, offs, count, j)
    elif rest == 48:
        _SUM48(dst, d0 + j, src, offs, count, j)
    elif rest == 56:
        _SUM56(dst, d0 + j, src, offs, count, j)


LANES = 16  # float32 lanes of the masked intrinsics below (one 512-bit vector)


def _lane_mask(builder, mb, byte):
    """The 16-bit lane mask at byte `byte` of the uint8 array data `mb` (any alignment): bit j, lane j."""
    ptr = builder.bitcast(builder.gep(mb, [byte]), ir.IntType(16).as_pointer())
    return builder.bitcast(builder.load(ptr, align=1), ir.VectorType(ir.IntType(1), LANES))


def _uint8_array(t) -> bool:
    return isinstance(t, types.Array) and t.dtype == types.uint8 and t.ndim == 1 and t.layout == "C"


def _intp_array(t) -> bool:
    return isinstance(t, types.Array) and t.dtype == types.intp and t.ndim == 1


def _make_masked_terms(vectors: int):
    """An intrinsic: `vectors` x 16 floats of an output row summed in registers over terms, each term
    added to the lanes its mask selects (the others keep their value: a select, not an addition of 0)."""

    @intrinsic
    def masked_terms(typingctx, out, o0, start, w, woffs, mb, moffs, m0, n):
        if not (_float_array(out, 1) and _float_array(start, 1) and _float_array(w, 1) and _intp_array(woffs)
                and _uint8_array(mb) and _intp_array(moffs)):
            return None
        sig = types.void(out, types.intp, start, w, woffs, mb, moffs, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            outv, o0, sv, wv, wov, mbv, mov, m0, n = args
            arr = [context.make_array(t)(context, builder, v).data for t, v in zip(signature.args, args)
                   if isinstance(t, types.Array)]
            o, s, wp, wo, mp, mo = arr
            intp = ir.IntType(64)
            init = builder.load(_vector_ptr(builder, s, ir.Constant(intp, 0), LANES), align=4)

            def body(q, accs):
                term = builder.load(_vector_ptr(builder, wp, builder.load(builder.gep(wo, [q])), LANES), align=4)
                base = builder.add(m0, builder.load(builder.gep(mo, [q])))
                return [builder.select(_lane_mask(builder, mp, builder.add(base, ir.Constant(intp, 2 * v))),
                                       builder.fadd(acc, term), acc) for v, acc in enumerate(accs)]

            for v, res in enumerate(_register_loop(builder, n, [init] * vectors, body)):
                builder.store(res, _vector_ptr(builder, o, builder.add(o0, ir.Constant(intp, LANES * v)), LANES),
                              align=4)
            return context.get_dummy_value()

        return sig, codegen

    return masked_terms


_MASKED8, _MASKED4, _MASKED2, _MASKED1 = (_make_masked_terms(v) for v in (8, 4, 2, 1))


@njit(cache=True, error_model="numpy", inline="always")
def masked_sum(out, o0, start, w, woffs, mb, moffs, m0, n, vectors):
    """For the `vectors` x 16 floats out[o0 + 16 v + l] (v < vectors, l < 16): start[l], then for each term
    q < n in order, + w[woffs[q] + l] where bit l of the 16-bit little-endian word at byte
    mb[m0 + moffs[q] + 2 v] is set (one rounded float32 addition; a clear bit leaves the lane as it is),
    in registers, 8 vectors at a time."""
    v = 0
    while v + 8 <= vectors:
        _MASKED8(out, o0 + LANES * v, start, w, woffs, mb, moffs, m0 + 2 * v, n)
        v += 8
    if vectors - v >= 4:
        _MASKED4(out, o0 + LANES * v, start, w, woffs, mb, moffs, m0 + 2 * v, n)
        v += 4
    if vectors - v >= 2:
        _MASKED2(out, o0 + LANES * v, start, w, woffs, mb, moffs, m0 + 2 * v, n)
        v += 2
    if vectors - v >= 1:
        _MASKED1(out, o0 + LANES * v, start, w, woffs, mb, moffs, m0 + 2 * v, n)


def _make_masked_gather(vectors: int):
    """An intrinsic: `vectors` x 16 partial sums in registers, each adding a row's 8-float vectors (both
    halves of a vector the same 8 floats) at the lanes a mask selects, position after position."""

    @intrinsic
    def masked_gather(typingctx, acc, a0, g, g0, mb, m0, mstep, moffs, u0, count):
        if not (_float_array(acc, 1) and _float_array(g, 1) and _uint8_array(mb) and _intp_array(moffs)):
            return None
        sig = types.void(acc, types.intp, g, types.intp, mb, types.intp, types.intp, moffs, types.intp, types.intp)

        def codegen(context, builder, signature, args):
            accv, a0, gv, g0, mbv, m0, mstep, mov, u0, count = args
            a, gp, mp, mo = [context.make_array(signature.args[i])(context, builder, args[i]).data for i in (0, 2, 4, 7)]
            intp = ir.IntType(64)
            ptrs = [_vector_ptr(builder, a, builder.add(a0, ir.Constant(intp, LANES * u)), LANES) for u in range(vectors)]
            start = [builder.load(p, align=4) for p in ptrs]
            offs = [builder.load(builder.gep(mo, [builder.add(u0, ir.Constant(intp, u))])) for u in range(vectors)]

            def body(q, accs):
                h = builder.load(_vector_ptr(builder, gp, builder.add(g0, builder.mul(q, ir.Constant(intp, 8))), 8),
                                 align=4)
                term = builder.shuffle_vector(h, h, ir.Constant(ir.VectorType(ir.IntType(32), LANES),
                                                                [l % 8 for l in range(LANES)]))
                base = builder.add(m0, builder.mul(q, mstep))
                return [builder.select(_lane_mask(builder, mp, builder.add(base, off)), builder.fadd(acc, term), acc)
                        for acc, off in zip(accs, offs)]

            for res, p in zip(_register_loop(builder, count, start, body), ptrs):
                builder.store(res, p, align=4)
            return context.get_dummy_value()

        return sig, codegen

    return masked_gather


_GATHER8, _GATHER4, _GATHER2, _GATHER1 = (_make_masked_gather(v) for v in (8, 4, 2, 1))


@njit(cache=True, error_model="numpy", inline="always")
def masked_gather_sum(acc, g, g0, mb, m0, mstep, moffs, count):
    """For each 16-float vector u < len(moffs) of `acc`: for positions q < count in order, + the 8 floats
    g[g0 + 8 q:g0 + 8 q + 8], repeated in both halves, at the lanes whose bit is set in the 16-bit
    little-endian word at byte mb[m0 + q mstep + moffs[u]] (one rounded float32 addition; a clear
    bit leaves the lane as it is), in registers, 8 vectors at a time."""
    n = moffs.shape[0]
    u = 0
    while u + 8 <= n:
        _GATHER8(acc, LANES * u, g, g0, mb, m0, mstep, moffs, u, count)
        u += 8
    if n - u >= 4:
        _GATHER4(acc, LANES * u, g, g0, mb, m0, mstep, moffs, u, count)
        u += 4
    if n - u >= 2:
        _GATHER2(acc, LANES * u, g, g0, mb, m0, mstep, moffs, u, count)
        u += 2
    if n - u >= 1:
        _GATHER1(acc, LANES * u, g, g0, mb, m0, mstep, moffs, u, count)
