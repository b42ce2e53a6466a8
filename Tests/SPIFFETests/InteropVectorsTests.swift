import Foundation
import Testing

@testable import SPIFFE

/// Tokens and a JWKS produced by an independent implementation — PyJWT 2.15.1 on pyca/cryptography
/// 50.0.2 — so our parsing of JWKs and verification of JOSE signatures (raw r||s ECDSA, PKCS#1
/// v1.5, PSS with digest-length salt) is checked against someone else's encoder, not only our own.
/// (The other direction — PyJWT verifying every algorithm we mint, using our JWKS — was checked
/// by hand when this file was written.) Each token: sub `spiffe://example.org/py`, aud `py-aud`,
/// exp 4102444800 (2100-01-01), iat 1767225600.
@Suite struct InteropVectorsTests {
    static let jwks =
        #"{"keys":[{"kty":"EC","crv":"P-256","x":"xoBEtk63sIBm8LDjbWvXqwIhPGhh38Z4oTJjC_YREr0","y""# +
        #":"SItjH95dtGnw08sRVI4pACrrCuMGj4_BW3eiAoTekqE","kid":"py-ec"},{"kty":"EC","crv":"P-384","# +
        #""x":"KNIBACJw_fTVtjTrTeifusQ7q6uW0DjfoFofqLnKBsLAOyRVW3mRdYtK9EHVrOzA","y":"1eOLYR5AZViU"# +
        #"3qSVLGskALFynRO_XufM321YQAQmA-5fKcYBZ47hGqow7shWb6fS","kid":"py-ec384"},{"kty":"RSA","ke"# +
        #"y_ops":["verify"],"n":"xO0cYFG0CcLx91tW-OPs4dolM1w2rA0JwL38GjIvOZMkK-sjNn3O7hbWwqw8PR5KT"# +
        #"Jh818dnLcneqz2t8Z4NPtW2gs3gn4VMoHmmoCliaZ4hdz8h3oSDV0P3zJxg6MTJLY-qZb9jLrMABU3J-PwSYzZ_f"# +
        #"CYM7eUvufqyHGO3UNhCosVb8SwrY-tqblMH_Y8ckznC0i5wAtbX6EWdqwnCzw7faiD_5baFFYAqSuADsl9uNUBog"# +
        #"W25PG149v6xJU322rKfuvxHnw8BzHa-UmJSkJIxHPc9RNJGJoaYUXafMQatjOxs-tjcuiQDIMPIZVu737nqwzbnL"# +
        #"aN-wjeCJjq6LQ","e":"AQAB","kid":"py-rsa"}]}"#

    static let tokens: [(JWTAlgorithm, String)] = [
        (.es256,
         #"eyJhbGciOiJFUzI1NiIsImtpZCI6InB5LWVjIiwidHlwIjoiSldUIn0.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGxl"# +
         #"Lm9yZy9weSIsImF1ZCI6InB5LWF1ZCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzY3MjI1NjAwfQ.EOxcGhLeR"# +
         "ObnszihbCma3bDV4dvVKOGfbzQ2kD0zuy1iL17rLp8e4KYrV989DLoT91d8TXMECj8c9DVjHmexcg"),
        (.es384,
         #"eyJhbGciOiJFUzM4NCIsImtpZCI6InB5LWVjMzg0IiwidHlwIjoiSldUIn0.eyJzdWIiOiJzcGlmZmU6Ly9leGFt"# +
         #"cGxlLm9yZy9weSIsImF1ZCI6InB5LWF1ZCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzY3MjI1NjAwfQ.z9Ljs"# +
         #"R-gg89nXp1o2kTp5sa7Ori-ydJEivjkEeRAZQO9zoWj-pYCQ5OGnBZSMJVY7oGRp6uDdm_hz-SfeG1KqU94OQ7Ae"# +
         "KPS3TKC2DjxlcuUTKJRsttNoNlr-ZiKl5Uk"),
        (.rs256,
         #"eyJhbGciOiJSUzI1NiIsImtpZCI6InB5LXJzYSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGx"# +
         #"lLm9yZy9weSIsImF1ZCI6InB5LWF1ZCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzY3MjI1NjAwfQ.NZvIeaFa"# +
         #"Nw7GGWip63UgE_siTb78HKzsLmZ1mAWqfefURH6VMjMstkqw2AjuAklkgksseglyA_AqZ7stQKx8vAbLU79BYHut"# +
         #"oID_nakY7YrP5tH7w6HTxPR-wubPI-5jRsKyidkQ9gp3cuGKxCs8LZKee6w80OrP2EY65dROuDXrm5itFK6YVuhm"# +
         #"qODfPGREpVJUV8Zsp2HaCfZSxHammUU9Q7E2YENOURg-r6l4tMUNJsz9RYwTsaoWZqGvEr4ui3VYOlk7rZocOcld"# +
         "lWPf6VKdeA029SDbYYoTAUe1kHsGH6gsD4SGcuWDAvXhcSPhTm6HHKwnC1ehLJPAFbp3oQ"),
        (.ps256,
         #"eyJhbGciOiJQUzI1NiIsImtpZCI6InB5LXJzYSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGx"# +
         #"lLm9yZy9weSIsImF1ZCI6InB5LWF1ZCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzY3MjI1NjAwfQ.Kc5vNjVJ"# +
         #"1805nGBPJrphhXS4ByAmcJIkzN_nsZGdLY-QtL7ZlwwARSlOZrAqaPqttH0OPHfqVuvpQH2oVbZe8wtKAEuEZR1g"# +
         #"DSYAkGirEz6U6AKif6O0Z7OgSQJXroPz565BhtRn2JvHE3s65jvxFyS3gMdedPcmgodJeSjYVMrKjbTNBCHv1tsx"# +
         #"5_zgqiyPaOcPX659B0pRrAO_qDy22xypu5gNdrQTn9wkUJ7IOCMkVfXuB2YKW-3hSxCXTJfFLZ04ghV2Ex0TiCCF"# +
         "vlZdf-qzbyydePAWUL4MsbTtDhyj9tUcLb7oGyNHWE-YHOG5WwWeZnNjt-20eSnq_53pmg"),
        (.ps512,
         #"eyJhbGciOiJQUzUxMiIsImtpZCI6InB5LXJzYSIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJzcGlmZmU6Ly9leGFtcGx"# +
         #"lLm9yZy9weSIsImF1ZCI6InB5LWF1ZCIsImV4cCI6NDEwMjQ0NDgwMCwiaWF0IjoxNzY3MjI1NjAwfQ.hKtBhQns"# +
         #"QMUXshkleiXlymxBElNMtqQyX5ON-FDYV_Fmr1kfLrBc1EkjgA_lDNrog-4vFbu6BQS2CvFVK9Juh3wwojrPf5BX"# +
         #"_Hkupwlxa1BPxcJ77UBZVbMBKsElQoPruCQL1s0ALAKftlgn5gv-4ABpv5kMPMhwcv_8BfyELkwNksJfCHlbbm4U"# +
         #"IIES3UtAau4QmZsF3bmILCMj-dv9tSJ6WLl7Hrm8fsiMi6tQLmw095sGGKZu_eIKpjvsmXafnzBTok-OsXwIJARN"# +
         "VrJd7SkXSJ27feUZthFpQNIhc5Sck3oMOsiX7gD5eJqdEqx3AGjVg1RXNk687GAn52Zm0A"),
    ]

    static var bundle: JWTBundle {
        try! JWTBundle(trustDomain: JWTFixtures.trustDomain, jsonEncoded: Array(jwks.utf8))
    }

    @Test func jwksParses() {
        #expect(Set(Self.bundle.authorities.keys) == ["py-ec", "py-ec384", "py-rsa"])
    }

    @Test(arguments: 0..<5)
    func pyJWTTokensValidate(index: Int) throws {
        let (algorithm, token) = Self.tokens[index]
        let svid = try JWTSVID(parsing: token, bundles: Self.bundle, audience: "py-aud", at: JWTFixtures.now)
        #expect(svid.algorithm == algorithm)
        #expect(svid.id.string == "spiffe://example.org/py")
        #expect(svid.audience == ["py-aud"])
        #expect(svid.expiresAt == Date(timeIntervalSince1970: 4_102_444_800))
        expectSPIFFEError(.audienceMismatch) {
            try JWTSVID(parsing: token, bundles: Self.bundle, audience: "other", at: JWTFixtures.now)
        }
        expectSPIFFEError(.jwtExpired) {
            try JWTSVID(parsing: token, bundles: Self.bundle, audience: "py-aud", at: Date(timeIntervalSince1970: 4_102_444_900))
        }
    }
}
