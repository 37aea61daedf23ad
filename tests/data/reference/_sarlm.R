## Flatten spatialreg fits (Sarlm, SlX, lm) into named lists of numbers for write_flat_json.
suppressPackageStartupMessages({library(spatialreg); library(spdep)})

put <- function(out, prefix, v) {
  for (nm in names(v)) out[[paste0(prefix, nm)]] <- unname(v[[nm]])
  out
}

## impacts of a Sarlm fit: exact, from the eigenvalues of the listw (lagImpacts_e /
## mixedImpacts_e, attr(method) == "exact"); for SDEM the closed form beta/theta.
put_impacts <- function(out, p, imp) {
  u <- unclass(imp)
  if (!is.null(u$impacts)) {           # SDEM / SLX: list(impacts=, se=)
    for (k in c("direct", "indirect", "total")) {
      out <- put(out, paste0(p, "impacts.", k, "."), u$impacts[[k]])
      out <- put(out, paste0(p, "impacts_se.", k, "."), u$se[[k]])
    }
  } else {
    bn <- attr(imp, "bnames")
    for (k in c("direct", "indirect", "total")) {
      v <- as.numeric(u[[k]]); names(v) <- bn
      out <- put(out, paste0(p, "impacts.", k, "."), v)
    }
  }
  out[[paste0(p, "impacts_method")]] <- attr(imp, "method")
  out
}

flat_sarlm <- function(fit, p, listw) {
  out <- list()
  out <- put(out, paste0(p, "coef."), fit$coefficients)
  se <- fit$rest.se
  names(se) <- names(fit$coefficients)   # errorsarlm names them "I(x - lambda * WX)<name>"
  out <- put(out, paste0(p, "se."), se)
  if (!is.null(fit$rho)) {
    out[[paste0(p, "rho")]] <- unname(fit$rho)
    out[[paste0(p, "rho_se")]] <- unname(fit$rho.se)
  }
  if (!is.null(fit$lambda)) {
    out[[paste0(p, "lambda")]] <- unname(fit$lambda)
    out[[paste0(p, "lambda_se")]] <- unname(fit$lambda.se)
  }
  out[[paste0(p, "sigma2")]] <- unname(fit$s2)
  if (is.matrix(fit$resvar)) {
    # first row/column of the analytic asymptotic covariance is sigma^2 (named "sigma" in R)
    out[[paste0(p, "sigma2_se")]] <- sqrt(unname(fit$resvar[1, 1]))
  }
  out[[paste0(p, "loglik")]] <- as.numeric(fit$LL)
  out[[paste0(p, "aic")]] <- AIC(fit)
  out[[paste0(p, "n")]] <- length(fit$residuals)
  out[[paste0(p, "n_params")]] <- attr(logLik(fit), "df")
  out[[paste0(p, "ase")]] <- isTRUE(fit$ase)
  out[[paste0(p, "fdHess_used")]] <- !isFALSE(fit$fdHess) && !is.null(fit$fdHess)
  out[[paste0(p, "loglik_ols")]] <- as.numeric(fit$logLik_lm.model)
  if (fit$type %in% c("lag", "mixed", "sac", "sacmixed")) {
    out <- put_impacts(out, p, impacts(fit, listw = listw))
  } else if (fit$type == "error" && fit$etype == "emixed") {
    out <- put_impacts(out, p, impacts(fit))
  }
  out
}

flat_lm <- function(fit, p) {
  out <- list()
  s <- summary(fit)
  n <- nobs(fit)
  out <- put(out, paste0(p, "coef."), coef(fit))
  out <- put(out, paste0(p, "se."), s$coefficients[, 2])
  rss <- sum(residuals(fit)^2)
  out[[paste0(p, "sigma2")]] <- rss / n
  out[[paste0(p, "sigma2_unbiased")]] <- s$sigma^2
  out[[paste0(p, "loglik")]] <- as.numeric(logLik(fit))
  out[[paste0(p, "aic")]] <- AIC(fit)
  out[[paste0(p, "r2")]] <- s$r.squared
  out[[paste0(p, "n")]] <- n
  out
}
