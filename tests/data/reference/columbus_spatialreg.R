## Cross-sectional reference fits on Anselin's Columbus crime data (49 neighbourhoods) with
## spatialreg, method = "eigen", row-standardised queen contiguity from the bundled GAL.
## Run from the repository root:  Rscript tests/data/reference/columbus_spatialreg.R
source("tests/data/reference/_json.R")
source("tests/data/reference/_sarlm.R")

dd <- "bayes_sdm/datasets/data/columbus"
d <- read.csv(file.path(dd, "columbus.csv"))
stopifnot(nrow(d) == 49, all(d$id == 1:49))
nb <- read.gal(file.path(dd, "columbus.gal"), region.id = d$id)
lw <- nb2listw(nb, style = "W")

## Cross-check against R's own copy (spData::columbus): the attributes are identical, the
## neighbour list is NOT (spData's col.gal.nb has 230 links, libpysal's columbus.gal 236).
data(columbus, package = "spData")
same_data <- isTRUE(all.equal(unname(as.matrix(columbus[, c("CRIME", "INC", "HOVAL", "X", "Y")])),
                              unname(as.matrix(d[, c("CRIME", "INC", "HOVAL", "X", "Y")])),
                              tolerance = 0))
same_nb <- all(nb2mat(nb, style = "B") == nb2mat(col.gal.nb, style = "B"))

f <- CRIME ~ INC + HOVAL
## tol.opt tightened from the default sqrt(eps). Note: optimize() works on function values and
## the concentrated log-likelihood is flat at the top, so rho/lambda are pinned down only to
## ~1e-8 absolute whatever the tolerance (tol.opt 1e-12 vs 1e-14 moves sar rho by 1.2e-8).
ctl <- list(tol.opt = 1e-12)
fits <- list(
  sar  = lagsarlm(f, data = d, listw = lw, method = "eigen", control = ctl),
  sdm  = lagsarlm(f, data = d, listw = lw, method = "eigen", Durbin = TRUE, control = ctl),
  sem  = errorsarlm(f, data = d, listw = lw, method = "eigen", control = ctl),
  sdem = errorsarlm(f, data = d, listw = lw, method = "eigen", Durbin = TRUE, control = ctl),
  sac  = sacsarlm(f, data = d, listw = lw, method = "eigen")
)
vals <- list()
for (m in names(fits)) vals <- c(vals, flat_sarlm(fits[[m]], paste0(m, "."), lw))
slx <- lmSLX(f, data = d, listw = lw)
vals <- c(vals, flat_lm(slx, "slx."))
vals <- put_impacts(vals, "slx.", impacts(slx))
vals <- c(vals, flat_lm(lm(f, data = d), "ols."))

prov <- list(
  tool = "R spatialreg (lagsarlm, errorsarlm, sacsarlm, lmSLX) and stats::lm",
  versions = r_versions(c("spatialreg", "spdep", "Matrix")),
  date = format(Sys.Date()),
  script = "tests/data/reference/columbus_spatialreg.R",
  data = "bayes_sdm/datasets/data/columbus/columbus.csv (exported from libpysal 4.15.1 examples columbus.dbf)",
  weights = "bayes_sdm/datasets/data/columbus/columbus.gal (libpysal's queen GAL, 236 links) read with spdep::read.gal, nb2listw(style='W')",
  r_copy_check = paste0("spData::columbus attributes identical: ", same_data,
                        "; spData::col.gal.nb identical to the bundled GAL: ", same_nb,
                        " (col.gal.nb has 230 links: it lacks 5-16, 25-30, 31-39)"),
  formula = "CRIME ~ INC + HOVAL (intercept included)",
  calls = paste("lagsarlm(f, listw=lw, method='eigen', control=list(tol.opt=1e-12)); lagsarlm(..., Durbin=TRUE);",
                "errorsarlm(f, listw=lw, method='eigen', control=list(tol.opt=1e-12)); errorsarlm(..., Durbin=TRUE);",
                "sacsarlm(f, listw=lw, method='eigen'); lmSLX(f, listw=lw); lm(f)"),
  sigma2 = "sigma2 = SSE/n for all ML fits and for slx/ols 'sigma2'; slx/ols 'sigma2_unbiased' = SSE/(n-k)",
  se = paste("lag/SDM: analytic asymptotic information matrix (sigma2, rho, beta) inverted, no numerical Hessian;",
             "error/SDEM: beta SEs = sqrt(diag(s2 (X*'X*)^-1)) from the filtered regression with s2=SSE/n,",
             "lambda and sigma2 SEs from the analytic (sigma2, lambda) information block;",
             "SAC: analytic asymptotic information matrix (sigma2, rho, lambda, beta);",
             "slx/ols: lm's SEs (SSE/(n-k))."),
  impacts = paste("impacts(fit, listw=lw): exact, from the eigenvalues of W (method 'exact');",
                  "SDEM/SLX: direct=beta, indirect=theta, total=beta+theta, SEs from summary.lm",
                  "of the (filtered) regression, i.e. divisor n-k (method 'estimable')."),
  keys = "<model>.coef.<name>, <model>.se.<name>, rho/lambda(+_se), sigma2(+_se), loglik, impacts.<direct|indirect|total>.<x>"
)
write_flat_json(vals, prov, "tests/data/reference/columbus_spatialreg.json")
cat("wrote", length(vals), "values\n")
