/// Keys and certificates made with the OpenSSL 3 CLI (not swift-crypto), so parsing is checked
/// against an independent implementation. Regenerate with `openssl genpkey` / `openssl req -x509`;
/// the certificates are valid until 2126.
enum OpenSSLFixtures {
    /// OpenSSL CA: P-256, CA:TRUE, keyCertSign|cRLSign, URI spiffe://example.org, valid 2026–2126.
    static let rootCertificate = """
        -----BEGIN CERTIFICATE-----
        MIIBuzCCAWCgAwIBAgIBATAKBggqhkjOPQQDAjAzMQswCQYDVQQGEwJVUzEPMA0G
        A1UECgwGU1BJRkZFMRMwEQYDVQQDDApvcGVuc3NsLWNhMCAXDTI2MTEyMzEwMjgw
        OFoYDzIxMjYxMDMwMTAyODA4WjAzMQswCQYDVQQGEwJVUzEPMA0GA1UECgwGU1BJ
        RkZFMRMwEQYDVQQDDApvcGVuc3NsLWNhMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcD
        QgAE/GZfmMQYPG5m2Q5mI67wAWrnaJsFJDzS5auf7/yu7qk8SFCwNmUpI+gkU1SK
        iUm7glPU2iFpAP+ECLfuTvZT/qNjMGEwDwYDVR0TAQH/BAUwAwEB/zAOBgNVHQ8B
        Af8EBAMCAQYwHwYDVR0RBBgwFoYUc3BpZmZlOi8vZXhhbXBsZS5vcmcwHQYDVR0O
        BBYEFEPZiBYtmyMupsxW7zeSV+j9O2PlMAoGCCqGSM49BAMCA0kAMEYCIQCJsmMK
        ViW5Asmf7Fc13LYPTHt0QwImrUF5LSftBGBezwIhAKWYnbrQBQxNhQYgfo974i7r
        7ZqFkPzOpfxBJvd3uX0f
        -----END CERTIFICATE-----
        """

    /// OpenSSL leaf: empty subject, critical SAN URI spiffe://example.org/openssl, SPIRE's key usage and EKU.
    static let leafCertificate = """
        -----BEGIN CERTIFICATE-----
        MIIB0TCCAXegAwIBAgIBAjAKBggqhkjOPQQDAjAzMQswCQYDVQQGEwJVUzEPMA0G
        A1UECgwGU1BJRkZFMRMwEQYDVQQDDApvcGVuc3NsLWNhMCAXDTI2MTEyMzEwMjgw
        OVoYDzIxMjYxMDMwMTAyODA5WjAAMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
        CYa5mJHAV7a0GrXEVHDXNAgZQkNLvSFPeD8f5kVfDR09W50apyEFpGO4qWNYxCJr
        wke0T3skSaVXMpplQxxzeKOBrDCBqTAMBgNVHRMBAf8EAjAAMA4GA1UdDwEB/wQE
        AwIDqDAdBgNVHSUEFjAUBggrBgEFBQcDAQYIKwYBBQUHAwIwKgYDVR0RAQH/BCAw
        HoYcc3BpZmZlOi8vZXhhbXBsZS5vcmcvb3BlbnNzbDAdBgNVHQ4EFgQUL3CmF6e3
        S+/qEt6QhsWKpbzWNz4wHwYDVR0jBBgwFoAUQ9mIFi2bIy6mzFbvN5JX6P07Y+Uw
        CgYIKoZIzj0EAwIDSAAwRQIhAP26Ajm110d25N2A1lmO7gl9gMooCNysJup/aPYk
        AKMfAiBnXS4JY+m7Y4dPbEMB1KrCI3gzByiikySGaTJ+sJ+4CQ==
        -----END CERTIFICATE-----
        """

    /// The leaf's key, PKCS#8 as `openssl genpkey` writes it.
    static let leafKey = """
        -----BEGIN PRIVATE KEY-----
        MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFqYpojEqyXGIv+bb
        uDWOC8BUjISD1dKT2DEPwUlazIChRANCAAQJhrmYkcBXtrQatcRUcNc0CBlCQ0u9
        IU94Px/mRV8NHT1bnRqnIQWkY7ipY1jEImvCR7RPeyRJpVcymmVDHHN4
        -----END PRIVATE KEY-----
        """

    /// The same key as SEC1 `EC PRIVATE KEY`, which SVIDs must not use.
    static let leafKeySEC1 = """
        -----BEGIN EC PRIVATE KEY-----
        MHcCAQEEIBamKaIxKslxiL/m27g1jgvAVIyEg9XSk9gxD8FJWsyAoAoGCCqGSM49
        AwEHoUQDQgAECYa5mJHAV7a0GrXEVHDXNAgZQkNLvSFPeD8f5kVfDR09W50apyEF
        pGO4qWNYxCJrwke0T3skSaVXMpplQxxzeA==
        -----END EC PRIVATE KEY-----
        """

    /// A P-384 PKCS#8 key and its public key.
    static let p384Key = """
        -----BEGIN PRIVATE KEY-----
        MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAgJC75DJ0nZpku34iZ
        rqH2uqiQY+OwG4kWMdR+WaX5akjhCF8YteIZx84MeB5/HqqhZANiAATZABj7Nl8q
        LJ8z/dFZnN8MHlSPPUsK04zYcMBsmdYICUYNnG1872pQ1jm+F90hfFOrLG1IQlSN
        jhuFlOa7Eiae0Cfkm53nXwW9lga30ZbnQ/98FtvnuTN2TiHa4T81SwA=
        -----END PRIVATE KEY-----
        """

    static let p384PublicKey = """
        -----BEGIN PUBLIC KEY-----
        MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE2QAY+zZfKiyfM/3RWZzfDB5Ujz1LCtOM
        2HDAbJnWCAlGDZxtfO9qUNY5vhfdIXxTqyxtSEJUjY4bhZTmuxImntAn5Jud518F
        vZYGt9GW50P/fBbb57kzdk4h2uE/NUsA
        -----END PUBLIC KEY-----
        """

    /// An Ed25519 PKCS#8 key and its public key.
    static let ed25519Key = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VwBCIEIIpMDSJJc6hqiXAiJZSwf3m9AFWgVcehB/kd0kwXcHf5
        -----END PRIVATE KEY-----
        """

    static let ed25519PublicKey = """
        -----BEGIN PUBLIC KEY-----
        MCowBQYDK2VwAyEA/YPDkkBsoZ2ADuBSwoUBuaXjedYjBOeSUKPYlA4z3H4=
        -----END PUBLIC KEY-----
        """

    /// An RSA-2048 PKCS#8 key, the same key as PKCS#1, and its public key.
    static let rsaKey = """
        -----BEGIN PRIVATE KEY-----
        MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDgPcwYWrlxuzJ+
        PYZRVIcRX2kqd1pTQnH61e5loQOBi7I74fMQAKYPyf+RoDRIBJojvHfFh2K45rcv
        wqyvkvcBwk4AL5/GO3Be5RDYNVPpn8TgI3eLE09nOpYYQXXPuBBIz4dwH1DdsemT
        hfee/HxmlxdHFzo4QKL1LULBfBBK34yDVRtXYH3eADGaUlXeae4OTmIiF01AywjY
        QcxkVuWT+n6TbBNDxWEpiwdvrzaiVjhwoNvI03wHSJrCzKIUVOSMFNZJTGirXfR6
        aJLuu3pF4cCxrrUn0SfFW31++9EZPvgFQP15fBydeE01cyYGqmSr0uZ7kYQbqsUi
        mdlZFWhTAgMBAAECggEACeRP+4cNBSpX2N/H7BCJgMevsPLg5ilZM9J6GLuYlv9d
        lmyqNzuAF9Q2VOs3QzIIxqjKs8j8HuH2lMHGslwOT2KN5E41gx4eH+GE87SuhfDJ
        U4XdASKR7yDTfDBvDQG2ni+hbt3CyHTPs/VF7hp/NltV6InqxI59YclkV3qskVDk
        Enkm4dOCadF5ZgcPlFj3KukBT5XWySzwAUHXanG0JxXZucO9nSmgC+V4R3LsI6v4
        FyUYBKe+rmaiXa1qQY33YQ7f6WyzKBpoexUsk7T9MVdcKeZ3Z2MfW9tmCeYg1Zy6
        jsyTtTzZc72QvY5YGJse5dp/m/X3uHpVSzG8s7+p2QKBgQD0KhmC3s3aSNRJZ4dV
        BafWb9HzpuKTusvLrxig3s5bAOVQKn1yrEBHqDlDNUZ66xM3ruVA3Oczuc4KRwys
        fdJPBMvZtly7TDMDw7F1t2Uvwb1zwd0fBE/uXNrw9fKZSz7L+47u4mmvOZ/3wLvH
        cLgysKF8SnH1dzDeLigZLr/n7wKBgQDrHHeZ+nElR8nGD90Djj0h0Dx6eM1Dv+8E
        pfE8JNNQU64gAp1kkCYnoIg1qzRvr9BZ1CKTPWkb7QTmtEO6hv547Kc1CvTwVWCM
        36gAiUjtxj1+Jd4LkeGAVtBA+ahd/jX+6zjf8Ll2GrNdl4JbwavAuilnfqR//f8D
        mTwCcmHB3QKBgGV8Oi5TPWzFaLc5+N42A5T11WZYr0SIF70JgksbUNoyfR3dC1dm
        kTE3ktWEh07/9nTmlRNovhCZ4jITZgksIwYFEFXlnpWbDnk6FcDAAabf+EbtBWOm
        /zIsFjShhbyBshBG9xoDsbnLUdpAmcxD5cvr7rMinktQx1cSCEivTcSxAoGBANrp
        BZ+UJZedsQy+pn3yCY+bUUSDiDQF2OpODECA1VScpateY+hHo48QFONLxqYbYHbT
        Y2IPMvfyh7a7r7hUi0pSpxlnW0sPY7enY8kkCoiCJa14WrgRG5MgwgVNr+vcj7AM
        mkdA355NHCcPtCv1NxNbAsQ/kbEu8SwLmGl60PTtAoGADRqwy9vRUSMOqx0SYxK/
        dAYiEYs7m0DZ1M2ja8IOhZkL2YjUfMZRH8eEG5B0E9ZtZ/Mru+A22OGrj2xKoBRY
        v59TV3bWyiyCDQQTgkgQRBGULDs1DJSxG07f8WOmmRidTQmgvF7CROd25lGx2OLR
        e3Ifz4nbeZRek7Xmnu95PAY=
        -----END PRIVATE KEY-----
        """

    static let rsaKeyPKCS1 = """
        -----BEGIN RSA PRIVATE KEY-----
        MIIEowIBAAKCAQEA4D3MGFq5cbsyfj2GUVSHEV9pKndaU0Jx+tXuZaEDgYuyO+Hz
        EACmD8n/kaA0SASaI7x3xYdiuOa3L8Ksr5L3AcJOAC+fxjtwXuUQ2DVT6Z/E4CN3
        ixNPZzqWGEF1z7gQSM+HcB9Q3bHpk4X3nvx8ZpcXRxc6OECi9S1CwXwQSt+Mg1Ub
        V2B93gAxmlJV3mnuDk5iIhdNQMsI2EHMZFblk/p+k2wTQ8VhKYsHb682olY4cKDb
        yNN8B0iawsyiFFTkjBTWSUxoq130emiS7rt6ReHAsa61J9EnxVt9fvvRGT74BUD9
        eXwcnXhNNXMmBqpkq9Lme5GEG6rFIpnZWRVoUwIDAQABAoIBAAnkT/uHDQUqV9jf
        x+wQiYDHr7Dy4OYpWTPSehi7mJb/XZZsqjc7gBfUNlTrN0MyCMaoyrPI/B7h9pTB
        xrJcDk9ijeRONYMeHh/hhPO0roXwyVOF3QEike8g03wwbw0Btp4voW7dwsh0z7P1
        Re4afzZbVeiJ6sSOfWHJZFd6rJFQ5BJ5JuHTgmnReWYHD5RY9yrpAU+V1sks8AFB
        12pxtCcV2bnDvZ0poAvleEdy7COr+BclGASnvq5mol2takGN92EO3+lssygaaHsV
        LJO0/TFXXCnmd2djH1vbZgnmINWcuo7Mk7U82XO9kL2OWBibHuXaf5v197h6VUsx
        vLO/qdkCgYEA9CoZgt7N2kjUSWeHVQWn1m/R86bik7rLy68YoN7OWwDlUCp9cqxA
        R6g5QzVGeusTN67lQNznM7nOCkcMrH3STwTL2bZcu0wzA8OxdbdlL8G9c8HdHwRP
        7lza8PXymUs+y/uO7uJprzmf98C7x3C4MrChfEpx9Xcw3i4oGS6/5+8CgYEA6xx3
        mfpxJUfJxg/dA449IdA8enjNQ7/vBKXxPCTTUFOuIAKdZJAmJ6CINas0b6/QWdQi
        kz1pG+0E5rRDuob+eOynNQr08FVgjN+oAIlI7cY9fiXeC5HhgFbQQPmoXf41/us4
        3/C5dhqzXZeCW8GrwLopZ36kf/3/A5k8AnJhwd0CgYBlfDouUz1sxWi3OfjeNgOU
        9dVmWK9EiBe9CYJLG1DaMn0d3QtXZpExN5LVhIdO//Z05pUTaL4QmeIyE2YJLCMG
        BRBV5Z6Vmw55OhXAwAGm3/hG7QVjpv8yLBY0oYW8gbIQRvcaA7G5y1HaQJnMQ+XL
        6+6zIp5LUMdXEghIr03EsQKBgQDa6QWflCWXnbEMvqZ98gmPm1FEg4g0BdjqTgxA
        gNVUnKWrXmPoR6OPEBTjS8amG2B202NiDzL38oe2u6+4VItKUqcZZ1tLD2O3p2PJ
        JAqIgiWteFq4ERuTIMIFTa/r3I+wDJpHQN+eTRwnD7Qr9TcTWwLEP5GxLvEsC5hp
        etD07QKBgA0asMvb0VEjDqsdEmMSv3QGIhGLO5tA2dTNo2vCDoWZC9mI1HzGUR/H
        hBuQdBPWbWfzK7vgNtjhq49sSqAUWL+fU1d21sosgg0EE4JIEEQRlCw7NQyUsRtO
        3/FjppkYnU0JoLxewkTnduZRsdji0XtyH8+J23mUXpO15p7veTwG
        -----END RSA PRIVATE KEY-----
        """

    static let rsaPublicKey = """
        -----BEGIN PUBLIC KEY-----
        MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA4D3MGFq5cbsyfj2GUVSH
        EV9pKndaU0Jx+tXuZaEDgYuyO+HzEACmD8n/kaA0SASaI7x3xYdiuOa3L8Ksr5L3
        AcJOAC+fxjtwXuUQ2DVT6Z/E4CN3ixNPZzqWGEF1z7gQSM+HcB9Q3bHpk4X3nvx8
        ZpcXRxc6OECi9S1CwXwQSt+Mg1UbV2B93gAxmlJV3mnuDk5iIhdNQMsI2EHMZFbl
        k/p+k2wTQ8VhKYsHb682olY4cKDbyNN8B0iawsyiFFTkjBTWSUxoq130emiS7rt6
        ReHAsa61J9EnxVt9fvvRGT74BUD9eXwcnXhNNXMmBqpkq9Lme5GEG6rFIpnZWRVo
        UwIDAQAB
        -----END PUBLIC KEY-----
        """

    /// An X25519 PKCS#8 key: a key-agreement algorithm, not a signing one.
    static let x25519Key = """
        -----BEGIN PRIVATE KEY-----
        MC4CAQAwBQYDK2VuBCIEIMiSmAexkqKFemMlKytZAqjE2VzZGjzDebgSfnUxwYpQ
        -----END PRIVATE KEY-----
        """
}
