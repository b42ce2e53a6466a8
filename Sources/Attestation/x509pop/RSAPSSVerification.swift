import Crypto

/// RSASSA-PSS verification with SHA-256 and MGF1-SHA-256 (RFC 8017 §8.1.2, §9.1.2), the salt
/// length recovered from the encoding as Go's `rsa.VerifyPSS` does with `PSSSaltLengthAuto`.
///
/// Why not swift-crypto: `_RSA.Signing.PublicKey` verifies PSS only with the salt as long as the
/// hash, but a SPIRE agent signs x509pop challenges with `rsa.SignPSS(…, nil)`, which uses the
/// longest salt the key allows. Verifying here lets a real SPIRE agent with an RSA key attest.
/// Only public values are involved (key, signature, digest), so timing does not matter.
///
/// Callers bound the modulus first (`Limits.x509popRSAModulusBitsMax`): the work is quadratic in
/// its length.
enum RSAPSSVerification {
    static func isValid(signature: [UInt8], sha256Digest: [UInt8], modulus: [UInt8], exponent: [UInt8]) -> Bool {
        precondition(sha256Digest.count == SHA256.byteCount)
        let modulus = Array(modulus.drop { $0 == 0 })
        let exponent = Array(exponent.drop { $0 == 0 })
        // An even modulus is no RSA key (and Montgomery arithmetic needs an odd one).
        guard let last = modulus.last, last & 1 == 1, !exponent.isEmpty else { return false }
        let modulusBytes = modulus.count
        guard signature.count == modulusBytes else { return false }
        let limbCount = (modulusBytes + 7) / 8
        let n = BigNumber.limbs(bigEndian: modulus, count: limbCount)
        let s = BigNumber.limbs(bigEndian: signature, count: limbCount)
        guard BigNumber.compare(s, n) < 0 else { return false }
        let m = BigNumber.modularPower(s, exponent: exponent, modulus: n)
        let modulusBits = (modulusBytes - 1) * 8 + (8 - modulus[0].leadingZeroBitCount)
        return emsaPSSVerify(
            digest: sha256Digest, encoded: BigNumber.bigEndian(m, count: modulusBytes), encodedBits: modulusBits - 1)
    }

    /// EMSA-PSS-VERIFY (RFC 8017 §9.1.2), `encoded` being the k-byte big-endian representative.
    static func emsaPSSVerify(digest: [UInt8], encoded representative: [UInt8], encodedBits: Int) -> Bool {
        let hashLength = SHA256.byteCount
        let encodedLength = (encodedBits + 7) / 8
        // The representative is k bytes; when emBits is a multiple of 8 its first byte must be 0.
        let extra = representative.count - encodedLength
        guard extra >= 0, representative.prefix(extra).allSatisfy({ $0 == 0 }) else { return false }
        let encoded = Array(representative.dropFirst(extra))
        guard encodedLength >= hashLength + 2, encoded.last == 0xbc else { return false }
        let maskedDB = Array(encoded[0..<(encodedLength - hashLength - 1)])
        let hash = Array(encoded[(encodedLength - hashLength - 1)..<(encodedLength - 1)])
        let unusedTopBits = 8 * encodedLength - encodedBits
        let topMask: UInt8 = unusedTopBits == 0 ? 0xff : UInt8(0xff >> unusedTopBits)
        guard maskedDB[0] & ~topMask == 0 else { return false }
        var db = zip(maskedDB, mgf1(seed: hash, length: maskedDB.count)).map { $0 ^ $1 }
        db[0] &= topMask
        // DB = PS (zeros) || 0x01 || salt: the separator's position gives the salt length.
        guard let separator = db.firstIndex(where: { $0 != 0 }), db[separator] == 0x01 else { return false }
        let salt = db[(separator + 1)...]
        var hasher = SHA256()
        hasher.update(data: [UInt8](repeating: 0, count: 8))
        hasher.update(data: digest)
        hasher.update(data: Array(salt))
        return Array(hasher.finalize()) == hash
    }

    static func mgf1(seed: [UInt8], length: Int) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(length + SHA256.byteCount)
        var counter: UInt32 = 0
        while output.count < length {
            let counterBytes = (0..<4).map { UInt8(truncatingIfNeeded: counter >> (24 - 8 * $0)) }
            output += SHA256.hash(data: seed + counterBytes)
            counter += 1
        }
        return Array(output.prefix(length))
    }
}

/// Unsigned integers as little-endian 64-bit limbs, with just what RSA verification needs:
/// Montgomery multiplication (CIOS) and exponentiation by a public exponent.
enum BigNumber {
    static func limbs(bigEndian bytes: [UInt8], count: Int) -> [UInt64] {
        precondition(bytes.count <= count * 8)
        var limbs = [UInt64](repeating: 0, count: count)
        for (index, byte) in bytes.reversed().enumerated() {
            limbs[index / 8] |= UInt64(byte) << (8 * UInt64(index % 8))
        }
        return limbs
    }

    static func bigEndian(_ limbs: [UInt64], count: Int) -> [UInt8] {
        (0..<count).reversed().map { index in
            let limb = index / 8
            return limb < limbs.count ? UInt8(truncatingIfNeeded: limbs[limb] >> (8 * UInt64(index % 8))) : 0
        }
    }

    /// -1, 0 or 1 as `a` is less than, equal to or greater than `b` (same limb count).
    static func compare(_ a: some RandomAccessCollection<UInt64>, _ b: [UInt64]) -> Int {
        precondition(a.count == b.count)
        for (x, y) in zip(a.reversed(), b.reversed()) where x != y { return x < y ? -1 : 1 }
        return 0
    }

    /// `a -= b`, returning the borrow out of the top limb.
    @discardableResult
    static func subtract(_ a: inout [UInt64], _ b: [UInt64]) -> Bool {
        var borrow = false
        for index in b.indices {
            let (first, overflow1) = a[index].subtractingReportingOverflow(b[index])
            let (second, overflow2) = first.subtractingReportingOverflow(borrow ? 1 : 0)
            a[index] = second
            borrow = overflow1 || overflow2
        }
        return borrow
    }

    /// `2·a mod n` for `a < n`.
    static func double(_ a: inout [UInt64], modulo n: [UInt64]) {
        var carry: UInt64 = 0
        for index in a.indices {
            let next = a[index] >> 63
            a[index] = a[index] << 1 | carry
            carry = next
        }
        if carry == 1 || compare(a, n) >= 0 { subtract(&a, n) }
    }

    /// `a·b·R⁻¹ mod n` with R = 2^(64·limbs), for `a, b < n` and odd `n`.
    static func montgomeryProduct(_ a: [UInt64], _ b: [UInt64], _ n: [UInt64], _ nPrime: UInt64) -> [UInt64] {
        let count = n.count
        var t = [UInt64](repeating: 0, count: count + 2)
        for i in 0..<count {
            // (hi, lo) + two carries fits in 128 bits: (2⁶⁴−1)² + 2(2⁶⁴−1) = 2¹²⁸ − 1.
            var carry: UInt64 = 0
            for j in 0..<count {
                let (high, low) = a[j].multipliedFullWidth(by: b[i])
                let (sum1, overflow1) = low.addingReportingOverflow(t[j])
                let (sum2, overflow2) = sum1.addingReportingOverflow(carry)
                t[j] = sum2
                carry = high &+ (overflow1 ? 1 : 0) &+ (overflow2 ? 1 : 0)
            }
            let (top, topOverflow) = t[count].addingReportingOverflow(carry)
            t[count] = top
            t[count + 1] = topOverflow ? 1 : 0
            let m = t[0] &* nPrime
            let (high0, low0) = m.multipliedFullWidth(by: n[0])
            let (_, overflow0) = low0.addingReportingOverflow(t[0])
            carry = high0 &+ (overflow0 ? 1 : 0)
            for j in 1..<count {
                let (high, low) = m.multipliedFullWidth(by: n[j])
                let (sum1, overflow1) = low.addingReportingOverflow(t[j])
                let (sum2, overflow2) = sum1.addingReportingOverflow(carry)
                t[j - 1] = sum2
                carry = high &+ (overflow1 ? 1 : 0) &+ (overflow2 ? 1 : 0)
            }
            let (last, lastOverflow) = t[count].addingReportingOverflow(carry)
            t[count - 1] = last
            t[count] = t[count + 1] &+ (lastOverflow ? 1 : 0)
        }
        var result = Array(t[0..<count])
        if t[count] != 0 || compare(result, n) >= 0 { subtract(&result, n) }
        return result
    }

    /// `base^exponent mod n` (exponent big-endian bytes), `base < n`, `n` odd.
    static func modularPower(_ base: [UInt64], exponent: [UInt8], modulus n: [UInt64]) -> [UInt64] {
        precondition(n[0] & 1 == 1)
        // -n⁻¹ mod 2⁶⁴ by Newton's iteration (each step doubles the correct low bits: 3 → 96).
        var inverse = n[0]
        for _ in 0..<5 { inverse = inverse &* (2 &- n[0] &* inverse) }
        let nPrime = 0 &- inverse
        // R mod n and 2R mod n by doubling; then R² mod n as the Montgomery form of 2^(64·limbs).
        var one = [UInt64](repeating: 0, count: n.count)
        one[0] = 1
        for _ in 0..<(64 * n.count) { double(&one, modulo: n) }
        var two = one
        double(&two, modulo: n)
        let rSquared = power(two, bits: bits(of: UInt64(64 * n.count)), one: one, n, nPrime)
        let baseMontgomery = montgomeryProduct(base, rSquared, n, nPrime)
        let exponentBits: [Bool] = exponent.flatMap { byte -> [Bool] in (0..<8).reversed().map { (byte >> UInt8($0)) & 1 == 1 } }
        let result = power(baseMontgomery, bits: exponentBits, one: one, n, nPrime)
        var plainOne = [UInt64](repeating: 0, count: n.count)
        plainOne[0] = 1
        return montgomeryProduct(result, plainOne, n, nPrime)
    }

    private static func bits(of value: UInt64) -> [Bool] {
        (0..<64).reversed().map { (value >> UInt64($0)) & 1 == 1 }
    }

    /// Left-to-right square-and-multiply in the Montgomery domain.
    private static func power(_ base: [UInt64], bits: [Bool], one: [UInt64], _ n: [UInt64], _ nPrime: UInt64) -> [UInt64] {
        var accumulator = one
        for bit in bits.drop(while: { !$0 }) {
            accumulator = montgomeryProduct(accumulator, accumulator, n, nPrime)
            if bit { accumulator = montgomeryProduct(accumulator, base, n, nPrime) }
        }
        return accumulator
    }
}
