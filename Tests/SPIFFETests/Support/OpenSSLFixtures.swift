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

    /// An RSA-8704 PKCS#8 key: above BoringSSL's 8192-bit ceiling, below `Limits.privateKeyBytesMax`.
    static let rsaKeyTooLarge = """
        -----BEGIN PRIVATE KEY-----
        MIITYgIBADANBgkqhkiG9w0BAQEFAASCE0wwghNIAgEAAoIEQQCZFzvYfJypuuBg
        Q1e6JqXf8VauIToKOnVSTJDFmX6eJaJcnf1Xj8dJC8Z5SHmHstWsa5czCAKr/N9E
        ZkKv2kZWxxe9w1YFMIA/DW3oBIrqPf0HaB1tt4yX4Va0Uvi+a0g40wuiP9iNvWAc
        3iIPZaIjhNTUOhDlS1rlqVrrtZ6QmFm5g+ttM4WhLIbvLR95dozuJPb1y0K+mcU0
        bVCwhs79pgLnwAF8OxRHTU5KvdCoqI0le4bnTZWHnE20QKq+xftAjDAZ2hZ3rMw2
        yjIoT2fibjDt84vOOHEGi7hUS26cOmqfGLGLXqaci15tPolYOHNa2YAvooOXxKEt
        zCIr4b9g/wGduWGaVf1UKISMhMMC7nXG/+1rO+DnGvKSEv2zEgrw0NHPBWs4fCiE
        ps1Xp3D7sqX0aS3C4VxX1fRw9SVd4ai06lo96gGmJrAA+Rbp+ll+mjvUA43FWPIP
        PsYtY5qA8G6xzZrbz8RiNmCSoLHWpdusHbI8n2bT1LNyEvQxsrrol/dUCJQXCTl9
        mYGPgVkEa2zUzDRTHrdtHukIS1iwMD7nyGEwp4WAAEgDxqFbKQ6ZKtMnNI7+iEyi
        zhWXRQ2XjS5XSRTzEQ6HciE7itbS4HeEcLAZDUXYBcTD3E12IvIX2FgAOKEgQcLW
        S+8fbW30qVY5yFVoWM6Bf6g2DoNu3oWP0SalNXVKzsIP1OW+9/AVaVBY6j5Qf9mM
        3bOSJ6uept9DC8GWoNkw2vpDX03v9Zf6gQe4AbjsOZtKWT3EG9V9qISE0SY6NkEX
        kufzsLQQrnQ5I0TXTWW4pAnXnWD6MbaUobQbHHs+S/CMxF2JHx3McIM47WPkTNeo
        hEq4XXbg+a/4Ef8xcNfE+uKlg8Ra9oOW1/fCXmNgbVA7tSikFRirK/cKBe8Tw2yW
        iG7qATwupBS4uy2qdx/q3UD0HrOKN+1BCEWLTGbUroSJ9YulboKRXRmKVoUZbqaZ
        UGRGUOkOEPUn1+hlKmzvS3BFepkC8m5XUn/cf7DjSyUm26pOMjujEuWufZZV3Twj
        BZ+SzzNwfMnvB4CE8GYL/zG2qfTIipv2MrKpUrNfs8MdIelv67uT3+WlWhMkrcm4
        55MOri9bblrYUwib4BP5GL3Ll0VCIO2TJy07b29NKXFmSQSZaCg/pFz5ttTSjK6T
        aJr6Z5wv2vK4z+urXTZuprhgM+mhPKyxgujIozPD6aAI3g9rJy7NhDxeNR5i2NVy
        Ady7YUW4m2e5uzriwXKi+ITXsAaawOQJdo4bjy0FWb4I8oh3Nsj7pjk19wvd6kuY
        FUmLWHUrHpvesR1jtZ2Qs8sgGFv7RrBp0XhMmNZhy2dpArN3nsvolqq8c7qYe1/F
        K3fWhfjsQynCx96WHQj+cdy6LgUv/LLv4JxeVA0sGBryw7kqpZ7jKQe6YuePSHK/
        J/tFw9DScqBETkoX6yeuV8YDECkNewIDAQABAoIEQBIdzT+3s2RkkIPjxEBrrWp8
        aVkO5orqUxLrq6Auo2y8oGOccKwJgDhVM+YLXRJhZ+bRDqID2ykWMieqgE7GIlfH
        lLgoowfXLv4HLU/tJbFFp6lWOVFQDMu2Z2fMf9Is6O2MkA5hxtMzK2oPIXG4AcF5
        SSRaQMCZs8aEzZUiN4L9/HQ3N8eC9tfVaJxqNxTNIi1WY4E/zgS3Nr6XBxr0wQ8E
        M8jQEHzukt5DODYhE026MIXUgejiZgUXypw/oNUVob+IN3L/u3PrF3mOYPQjPXRu
        vMyT6yH6zOlM5IHZMVw8j3yHVA9dopLY7VI5OdCeUYxZO9GnRjJSGw7L3ulZfCfS
        1ZKgKvw0G9f3OYRVe6xfosFrbOGpQtqmdjkyFSK5SmEoHQQGLKOREcxs3tT2JCkt
        AXWUcs1ilOZyE8zAPe1HtIrARvCXvh0269IZqAwFS8zvHJBg4UiO14pVT+d0J4cF
        rNvOrHpBsog6zh/b81+m3gGWvA5vgKAlxhyEQLCW6YZ34VVo9HlrZonF/i6IzIt4
        2PavuatycZtwsnwASp0DAJa2QEYdNO+qWNtViKe8ipU2m6lCj39wir0jbSurCMo7
        81Vx+RAwnwsJRwSAUB7BYHNkUHqOdwry18+jxOjrhsGqoPNZwDuMfK2Wa9RIw1/W
        IDWTTwQbqkhp3nKTMhuPKrgTtKKNWnWBVTbBZ3S7a4ZlIZR8F+a30ntYixULK8Ra
        OSyssTrb5BB+CNT80tprHMshG5KtTmu61LjPfwvK3uNlenMHvLQQMNVZQWGH+uQj
        ryGTCpLfH7EOZfJTVfj1n1HRna3eqMi8lWdlt+IIyJ5XDGUVDYi+X7qJxiTR/V+f
        xpK3knAKqNKBK3gLpxQeXYDKAS0iTAjhmMg837/1MqPGj8LGrw4USUpLhCZLAf/Q
        AjU51lwKOjecs/5iwiE/HyeNyTivoXVa9b+gjQ46swfmLsbA5zI1w+9dZzFjbSt2
        3bXZD+aCQQbnIOMlcCTiy7U/pZD7HRzFB8qFHWtHwKERO1uyqcTlJZE8eUJruzFX
        qUiUZz7KpK4HcqxcRFFgOfaWj8SSEBu+6XlGsnNQQHxYs0+XDChok4BQaSsMRc4F
        iZZeTxo1WE9UrkA7MaoqnD713MEktBSZuAVFNhKFApe1wCsNMrIqr61b3JLwFHax
        tMkJgezmNEFLvkrsxLnYSVYmSXlFfmmqg4wplPrQK0UsXHUWnkl28WPqKzYFh4VS
        PR0FvSB34E16an/GdIxnJ5VZQkbLZfpMoOaBPM35GXMz0p2JFJSIoMUCWCSju0+y
        ZGYeaYzjEZlTw2enROMz2CFSjGUvvWkRnS7mnhvk2LQo7qqU0hNNof/MSK8geJaS
        xdVvwBgdabtxu/o0Vw1Spc8DjfFLOe8LMhg016fH5LWXB/SUABa+BBVv1mqoNBCW
        lRW8YKGv19xqsxa0O/u9AoICIQDGSHPervSmqtMbEPaE0E9kC0HALJrEe46tA2fd
        vUkEZ+Qmlumsz9VfvNfqUFTTrP/9TrNb6VjDvfH6gDMeIvYFKRmzeMMnCpvwQ6hA
        Aoe7TL0wI31l607bxZpF8esS5jpOcwqGxwm3buTDUprB32JBHkGtRVxmjXzXZ5G7
        l4s0+ON+CbvDShxBF33qhSBmA53X6bAD8DutV53n+Sug9/5JF1o+zAiU+yfGorlC
        m3hOZ0ohXirfP4QgshtwUJm4j6BHDawQYygjnE/YBhqDKOMQk/ydBM4Aje7Hiyh8
        JL3Ef8bnJIamqeZ9JyCMrFKyIhtXchJ98HGku5ajI9tiL3RtlCpTGKuHwzY2I+FL
        +HqsWnGM5huQUcH+OQBU+PtsjJg6aZP4JPRtaGSkr79zOFiBRJC7XYK0O29ta/3D
        lGb5EKqoI0uoyYt012kK5KZxkSTrJ5mXrDTxE1ZGWZoVgCJvXGUBo1GX/kwkSOsX
        8uq7a200e+vJvzF06RfgKG7ZoCuVojoTWGSH9mPru5T3O2QM1ZTbIJv2k2CjzKWq
        JtWcKrpXh65G1+O2XD6LtYZfcm8xr5ho7xjjLoyxaUCH4Sh8UAM381Xt2fp5Qrlj
        fZ/XJmHALG0ur3ren6HjvSjSoubQhE8+0lP2B3Elv/7+y9jHXT9/CCTp8RcEuAGt
        Qd/WBcHw/soQb4gtF9IE9gPVVO7pMR7SZlcOG83l1zF+2xZnAoICIQDFpyskoCxD
        h35xDxxw3iMWLBSSF5wpg4IMdGEH9Y26TeLGaPnrr8WbWgdxDB2jbgQMD3sLkLUY
        RJhU1j+piIHrBVqNEgRaSxtKUxe+INGrjmkhBjmKyNn4ltYpVKw2RlPxn3FoyTmp
        Tkxe6PoqnGBKyi+ir2PSy0VSBVIzAKf0OSonlG9N0s6y7PvOeJcMUOpiHCwdwzi7
        vsQwS/Syuk8BwLyvq04r2sAnEvZm1I4dC25GlgaIwGv+x1CXr8NqsjnqBBySqkWe
        zYxARkL8eo+m8hHYwbltSsz2+143pinycuZkSNt01sNJW1KEfKc3iXt5VHyTEzrC
        5Qsdzy3ams74hyrF5HR3DolZAgoaLfU9q2rOMs7QcrGinMGet3iP/LOtbYgome2k
        mHIKvMyRUCf8GrS/bqR3GRYBL+hS4/OMpdfAM+juNyJoXuV1dtvNysgv7icdnGsl
        R05QHEWlerBuLR0RM8lvVcc5vShEM0w2awy+zj8OIEJESgC5rD0OqvxaTyt89+R4
        JMcWsIfcQEjAoh7SiCa7BPcQclDgMf4ZD6FnUvbjenr/GCTmrLGt1a3sSukWdsUQ
        +Cd/k8Cc48aiuNNwvw0keMVL1I581NAjyZrrU+SRr0wqFZmXTC80n+CINEHSPnPp
        trWJQ4CIpyfZv1QTlKAZcfIl6phDWJcG1rmL9VgrXUhYaSeZGRRb4meVdc2/aeH0
        pWijMsl4QtvNAoICIBIk3R16av65UPoAEl7S5QDlms2oBz2FhOfGEQIUaRMTIqh5
        VMawefj5wdQ6J5j7Eq2uPvFhJ/M5dWQTyRmv301Xlnd6zHjNGrngpwu8b4kvG3zF
        MptZ7exkZ5qQ6Y7gLGOzWTo+CmCTsDFDZM/qzgXha+ccGrlzpwHbA1XkJyPgxohp
        AZp8NJusN6R3LCDJoe74/ldN61gQVW29ukVPjCBKF8L5Tqu7U8d0anly2o5qGzl0
        cX3eRQvs4F/lsDtYQTVfReh1+l1P12qQHGr2GdkRgaMopmUcl8YAsOKzRf4uJxhN
        mliz4ViAdRUKS8LrJg9Za+HEV9HYLI+fH1sbto60aS8TadbRgStxGxOlmCwfVpar
        E8igAp1tv98GrZMgRmnJ8XVahFdinxsGzgEQHeEuUgQjKWuuqKKdqCn2cXnHEaaz
        HCBE2RMHByCtDaIEwxkVlZNweaO5vkJPvq7K+9uu27tLo5LB/VuwpHqbiuk9ik+s
        K0ZZzX/COKIVcRdO9c4Kez/77a8XV8thbd81uxEFlkp68Gqez9ANUPeB+DgDHOwX
        iVYIOVkdlceZA8PGJ/Cm/c5UWrWnM86kL/h/HQJLHBBJnwpV0Pq5pVc6Tp8Ubwtz
        xUXpXtfySZEaZRrpNy/Le6jm/DHeOndW21Gbe6m6ma3ZI++YVR/kaprdFUtzWWzh
        E8JvQknGDTzQ+kbSL8585TIhlUPAPZYTm/7cs28CggIhAJV64+oDKPa5VirzHrNN
        jIOMOtJyAKx0xLnemjOGxfUMSmF7qudQO8ZNxCr+2rtqzKzCWHBatFryJbKjheoV
        TwwLNHxUD+6ptq3zQZWNBIUWYvOS3ZnUZOTYTodbfhJeBcZKq15wMKeWi7OLxwbK
        1Rg66OPEeV5GVNq/I3dnG55cTUE5xSO6NpCjIZz5HmM2HsysOcEYj6ONlppgF2PD
        +1R8Czdf+vK3sXLbqHYEcqYMqw2/EJoDzKkW3CCb0NK0j5AoI+PX2mdLVLKXcLm5
        h0Le+BhSCoZZd8GiQZMcm8S8mPlnEHHAqlikNDf2fhBGbZdJCh3BAUO8LTgSI7+c
        LMNQlkyrhlk0KTOjkzhRYZOOPGxNiJOk6irtGpGKeCeNGeYjXEI4h71ffYAZYSzU
        ziifmerdJozb8ARd0vo9Y0gPdKfrmlHuaJs+iZLYnUt5/QQivHpsfavnzZZQi2um
        6h+pBr6nx8Pnv5AvOnC5yv2s4Cq9mHp6cyNqRDonxNV/AvLZxS3x3FvwlJDYWSd9
        hogJE/5s8b2m96L8kaW8qUsSwyJ9YDKRwsuB2waJvKaXX73AuZ8/m7JFurmFaLo+
        mU8fMOmn06ytmajLzCckW3V1VzB6dfan+JYrV8lQ2LKX5xubSdxTVx5+C7UP0/mF
        UWIgjNlyIdKclmGOljD4ot+NLS5oEpJZLgmPHV9v1DHZfDVQrpYA4d4/6m7iTfQh
        vFECggIgSpcTgqd6g9ykR95jOLyUGhSMA7z8jqbuUhZm94owP64pB358HWEFyid6
        o5OV2d7+BWDhsKh3fiIdNx5GfuhmdUUnxnw/RA5Lh4P+A1QhVufQJFIE0skFPuzU
        wh/AiRazUvAfDiSNpl4jrNpDMDkeKz29q6g9GFKOK5dKFfQfrGyGSpbIyDjU/O2e
        RvJAhO+aPZCUeX6SWDnFYDfwWCpnSzahAgOgK442C057ZO0xEHGGGtsXc4AQsZ7Z
        r5TFznNi+9+H7bulgZS834g6ZC+On7pXUIZ6BZemtepU1TaWaIzL9ipGeBOSwQUw
        7MXeYYW12p2Euh39cdYnEaQ/s9thENb7t4c7YpZ8MwkEIVCoRtKCkw25pCHvIqbF
        /SFPMgftjIdxeahqdUAgNU8hgwYrZQXo8Peqh969juIcmK7kJ9gYqPEg6YX2w6aX
        xd4MzRiimMJt45gyO3U25lu+hysd4PEJ/ySOo0LDuYQ6BDdVvhRcjEaQrpUL1xf4
        qYX11KPf0SDwDyftRlHROfMXY5uDHzmFJvWl3QtEU0we2LGkM0edPBTyW7yGHxks
        q9dpT11GpdNJ78nddLcT24rRWR1xk5Nc/+MkODUG+arZvaqBpOBomHk4cvNn/jSF
        R6XYsN4idfYznevLTwNQPXGHVOVpEbFjeKViuz+mrUrsE9r+E8Rfy4mFbB6nfcSU
        bHP8OsAlk1tY7YAYYoDHd1SNybLxAw==
        -----END PRIVATE KEY-----
        """
}
